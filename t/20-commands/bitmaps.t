# Bitmap commands through the generated methods, under RESP2 and RESP3:
# SETBIT/GETBIT (and the bytes GET sees), BITCOUNT in BYTE and BIT ranges,
# BITPOS with and without ranges, BITOP AND/OR/XOR/NOT, BITFIELD GET/SET/
# INCRBY on signed and unsigned fields with OVERFLOW WRAP/SAT/FAIL (FAIL
# gives undef in its slot), BITFIELD_RO - the values they return and the
# bytes they leave; error replies (WRONGTYPE, ERR) fail the future with an
# Error::Redis object and the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('bitmaps');

        subtest 'SETBIT, GETBIT' => sub {
            my $k = "$base:bits";
            is( $redis->getbit( $k, 0 )->get,     0,      'GETBIT of a missing key: 0' );
            is( $redis->setbit( $k, 7, 1 )->get,  0,      'SETBIT 7 1: the old bit, 0' );
            is( $redis->get($k)->get,             "\x01", 'GET: bit 7 is the low bit of byte 0' );
            is( $redis->setbit( $k, 1, 1 )->get,  0,      'SETBIT 1 1' );
            is( $redis->get($k)->get,             'A',    'GET: 0x41' );
            is( $redis->setbit( $k, 7, 0 )->get,  1,      'SETBIT 7 0: the old bit, 1' );
            is( $redis->get($k)->get,             '@',    'GET: 0x40' );
            is( $redis->getbit( $k, 1 )->get,     1,      'GETBIT 1' );
            is( $redis->getbit( $k, 7 )->get,     0,      'GETBIT 7' );
            is( $redis->getbit( $k, 100 )->get,   0,      'GETBIT past the end: 0' );
            is( $redis->setbit( $k, 23, 1 )->get, 0,      'SETBIT 23: grows the string' );
            is( $redis->get($k)->get,             "\x40\x00\x01", '... zero-filled' );
            is( $redis->strlen($k)->get,          3,              'STRLEN 3' );
            my $err = FIORTest::redis_error_ok( $redis, $redis->setbit( $k, 0, 2 ), 'ERR',
                'SETBIT to 2' );
            like( $err->message, qr/bit is not an integer or out of range/, '... says so' );
            FIORTest::redis_error_ok( $redis, $redis->setbit( $k, -1, 1 ), 'ERR', 'SETBIT at -1' );
            is( $redis->get($k)->get, "\x40\x00\x01", 'unchanged by the failures' );
            $redis->del($k)->get;
        };

        subtest 'BITCOUNT' => sub {
            my $k = "$base:count";
            is( $redis->bitcount($k)->get, 0, 'BITCOUNT of a missing key: 0' );
            $redis->set( $k, 'foobar' )->get;
            is( $redis->bitcount($k)->get,                 26, 'BITCOUNT of "foobar"' );
            is( $redis->bitcount( $k, 0, 0 )->get,         4,  'bytes 0..0' );
            is( $redis->bitcount( $k, 1, 1 )->get,         6,  'bytes 1..1' );
            is( $redis->bitcount( $k, -2, -1 )->get,       7,  'negative byte indexes' );
            is( $redis->bitcount( $k, 1, 1, 'BYTE' )->get, 6,  'BYTE explicitly' );
            is( $redis->bitcount( $k, 5, 30, 'BIT' )->get, 17, 'BIT 5..30' );
            is( $redis->bitcount( $k, 10, 5 )->get,        0,  'an empty range: 0' );
            $redis->set( $k, "\xff\x00\xff" )->get;
            is( $redis->bitcount($k)->get, 16, 'of binary bytes' );
            $redis->del($k)->get;
        };

        subtest 'BITPOS' => sub {
            my $k = "$base:pos";
            $redis->set( $k, "\xff\xf0\x00" )->get;
            is( $redis->bitpos( $k, 0 )->get, 12, 'the first 0' );
            is( $redis->bitpos( $k, 1 )->get, 0,  'the first 1' );
            $redis->set( $k, "\x00\xff\xf0" )->get;
            is( $redis->bitpos( $k, 1, 0 )->get,             8,  'the first 1 from byte 0' );
            is( $redis->bitpos( $k, 1, 2 )->get,             16, 'from byte 2' );
            is( $redis->bitpos( $k, 1, 2, -1, 'BYTE' )->get, 16, 'bytes 2..-1, BYTE' );
            is( $redis->bitpos( $k, 1, 7, 15, 'BIT' )->get,  8,  'bits 7..15, BIT' );
            is( $redis->bitpos( $k, 0, 8, 15, 'BIT' )->get,  -1, 'no 0 in bits 8..15: -1' );
            $redis->set( $k, "\xff\xff\xff" )->get;
            is( $redis->bitpos( $k, 0 )->get, 24, 'no 0 and no end: the first bit past the end' );
            is( $redis->bitpos( $k, 0, 0, -1 )->get, -1, 'no 0 with an end given: -1' );
            $redis->set( $k, "\x00\x00" )->get;
            is( $redis->bitpos( $k,           1 )->get, -1, 'no 1: -1' );
            is( $redis->bitpos( "$k:missing", 0 )->get, 0,  'a 0 in a missing key: 0' );
            is( $redis->bitpos( "$k:missing", 1 )->get, -1, 'a 1 in a missing key: -1' );
            FIORTest::redis_error_ok( $redis, $redis->bitpos( $k, 2 ), 'ERR', 'BITPOS of a 2' );
            $redis->del($k)->get;
        };

        subtest 'BITOP' => sub {
            my ( $k1, $k2, $dst ) = map { "$base:op:$_" } qw(1 2 dst);
            $redis->mset( $k1, 'foobar', $k2, 'abcdef' )->get;
            is( $redis->bitop( 'AND', $dst, $k1, $k2 )->get, 6,        'AND: the length' );
            is( $redis->get($dst)->get,                      '`bc`ab', '... foobar & abcdef' );
            is( $redis->bitop( 'OR', $dst, $k1, $k2 )->get,  6,        'OR' );
            is( $redis->get($dst)->get,                      'goofev', '... foobar | abcdef' );
            is( $redis->bitop( 'XOR', $dst, $k1, $k2 )->get, 6,        'XOR' );
            is( $redis->get($dst)->get, "\x07\x0d\x0c\x06\x04\x14",    '... foobar ^ abcdef' );
            $redis->set( $k2, "\x0f" )->get;
            is( $redis->bitop( 'OR', $dst, $k1, $k2 )->get, 6, 'a shorter source: the longest' );
            is( $redis->get($dst)->get, "\x6f" . 'oobar',      '... padded with zero bytes' );
            is( $redis->bitop( 'NOT', $dst, $k2 )->get,                1,      'NOT' );
            is( $redis->get($dst)->get,                                "\xf0", '... ~0x0f' );
            is( $redis->bitop( 'AND', $dst, "$base:op:missing" )->get, 0, 'of a missing key: 0' );
            is( $redis->exists($dst)->get, 0, '... deletes the destination' );
            FIORTest::redis_error_ok( $redis, $redis->bitop( 'NOT', $dst, $k1, $k2 ),
                'ERR', 'NOT of two keys' );
            is( $redis->del( $k1, $k2 )->get, 2, 'DEL' );
        };

        subtest 'BITFIELD GET, SET, INCRBY' => sub {
            my $k = "$base:field";
            is(
                $redis->bitfield( $k, 'INCRBY', 'i5', 100, 1, 'GET', 'u4', 0 )->get,
                [ 1, 0 ],
                'INCRBY i5 and GET u4 of a new key: one reply each'
            );
            is(
                $redis->bitfield( $k, 'SET', 'u8', 0, 255, 'GET', 'u8', 0, 'GET', 'i8', 0 )->get,
                [ 0, 255, -1 ],
                'SET u8 255: the old value; u8 255, i8 -1'
            );
            is(
                $redis->bitfield( $k, 'SET', 'u8', '#1', 65, 'GET', 'u8', 8 )->get,
                [ 0, 65 ],
                '#1: the second u8'
            );
            is( $redis->getrange( $k, 0, 1 )->get,                     "\xffA",    'the bytes' );
            is( $redis->bitfield( $k, 'INCRBY', 'u8', '#1', 10 )->get, [75],       'INCRBY u8 10' );
            is( $redis->bitfield( $k, 'GET', 'u16', 0 )->get, [ 0xff * 256 + 75 ], 'GET u16' );
            is( $redis->bitfield( $k, 'SET', 'i16', 0, -2 )->get,
                [-181], 'SET i16: the old value read as signed' );
            is(
                $redis->bitfield( $k, 'GET', 'i16', 0, 'GET', 'u16', 0 )->get,
                [ -2, 65534 ],
                '-2 signed is 65534 unsigned'
            );
            is(
                $redis->bitfield( $k, 'SET', 'i64', 0, '-9223372036854775808', 'GET', 'i64', 0 )
                    ->get,
                [ D(), '-9223372036854775808' ],
                'i64: the full range'
            );
            is(
                $redis->bitfield( $k, 'SET', 'u63', 0, '9223372036854775807', 'GET', 'u63', 0 )
                    ->get,
                [ D(), '9223372036854775807' ],
                'u63: the widest unsigned'
            );
            is( $redis->bitfield($k)->get, [], 'no operations: []' );
            FIORTest::redis_error_ok(
                $redis, $redis->bitfield( $k, 'GET', 'u64', 0 ),
                'ERR',  'BITFIELD u64 (unsupported)'
            );
            $redis->del($k)->get;
        };

        subtest 'BITFIELD OVERFLOW' => sub {
            my $k  = "$base:overflow";
            my @op = ( 'INCRBY', 'u2', 100, 1, 'OVERFLOW', 'SAT', 'INCRBY', 'u2', 102, 1 );
            is( $redis->bitfield( $k, @op )->get, [ 1, 1 ], 'WRAP (default) and SAT: 1 1' );
            is( $redis->bitfield( $k, @op )->get, [ 2, 2 ], '2 2' );
            is( $redis->bitfield( $k, @op )->get, [ 3, 3 ], '3 3' );
            is( $redis->bitfield( $k, @op )->get, [ 0, 3 ], 'u2 wraps to 0, saturates at 3' );
            is( $redis->bitfield( $k, 'OVERFLOW', 'FAIL', 'INCRBY', 'u2', 102, 1 )->get,
                [undef], 'FAIL: undef in its slot' );
            is( $redis->bitfield( $k, 'GET', 'u2', 102 )->get, [3], '... and no change' );
            is(
                $redis->bitfield( $k, 'OVERFLOW', 'FAIL', 'INCRBY', 'u2', 102, -1,
                    'INCRBY', 'u2', 100, -1 )->get,
                [ 2, undef ],
                'FAIL on one operation of two'
            );
            is(
                $redis->bitfield(
                    $k,   'OVERFLOW', 'SAT',  'INCRBY', 'i8', 200,
                    -200, 'OVERFLOW', 'WRAP', 'INCRBY', 'i8', 208,
                    130
                )->get,
                [ -128, -126 ],
                'signed: SAT to -128, WRAP 130 to -126'
            );
            is(
                $redis->bitfield( $k, 'OVERFLOW', 'SAT', 'SET', 'i8', 216, 300, 'GET', 'i8', 216 )
                    ->get,
                [ 0, 127 ],
                'SET past the range saturates too'
            );
            FIORTest::redis_error_ok( $redis,
                $redis->bitfield( $k, 'OVERFLOW', 'NOPE', 'GET', 'u2', 0 ),
                'ERR', 'an unknown OVERFLOW' );
            $redis->del($k)->get;
        };

        subtest 'BITFIELD_RO' => sub {
            my $k = "$base:ro";
            $redis->set( $k, "\x01\x02\xff" )->get;
            is(
                $redis->bitfield_ro( $k, 'GET', 'u8', 0, 'GET', 'u8', '#1', 'GET', 'i8', 16 )->get,
                [ 1, 2, -1 ],
                'GET of several fields'
            );
            is( $redis->bitfield_ro( $k,           'GET', 'u4', 20 )->get, [15], 'a 4-bit field' );
            is( $redis->bitfield_ro( "$k:missing", 'GET', 'u8', 0 )->get, [0], 'of a missing key' );
            is( $redis->exists("$k:missing")->get, 0, '... not created' );
            FIORTest::redis_error_ok( $redis, $redis->bitfield_ro( $k, 'SET', 'u8', 0, 1 ),
                'ERR', 'BITFIELD_RO SET' );
            is( $redis->get($k)->get, "\x01\x02\xff", 'unchanged' );
            $redis->del($k)->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $list = "$base:list";
            $redis->rpush( $list, 'x' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->setbit( $list, 0, 1 ),
                'WRONGTYPE', 'SETBIT on a list' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->bitcount($list),
                'WRONGTYPE', 'BITCOUNT of a list' );
            FIORTest::redis_error_ok( $redis, $redis->bitfield( $list, 'GET', 'u8', 0 ),
                'WRONGTYPE', 'BITFIELD of a list' );
            FIORTest::redis_error_ok( $redis, $redis->bitop( 'OR', "$base:dst", $list ),
                'WRONGTYPE', 'BITOP from a list' );
            is( $redis->exists("$base:dst")->get,        0,     'no destination' );
            is( $redis->lrange( $list, 0, -1 )->get,     ['x'], 'the list is untouched' );
            is( $redis->setbit( "$base:ok", 0, 1 )->get, 0,     'bit commands still work' );
            $redis->del( $list, "$base:ok" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
