# String commands through the generated methods (and the hand-written `set`),
# under RESP2 and RESP3: the values they return and the state they leave -
# SET with NX/XX/GET/EX/KEEPTTL in the hash and the word style, GETEX,
# GETDEL, MSET/MGET/MSETNX, ranges, counters up to the 64-bit edge,
# INCRBYFLOAT, LCS (whose IDX reply is a map under RESP3) - and that error
# replies (WRONGTYPE, ERR) fail the future with an Error::Redis object while
# the client keeps working.
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
        my $base = FIORTest::unique_key('strings');

        subtest 'SET and GET' => sub {
            my $k = "$base:set";
            is( $redis->get($k)->get,         undef, 'missing key: undef' );
            is( $redis->set( $k, 'v1' )->get, 'OK',  'SET: OK' );
            is( $redis->get($k)->get,         'v1',  'GET: the value' );
            is( $redis->set( $k, '' )->get,   'OK',  'SET an empty string' );
            is( $redis->get($k)->get,         '',    'GET: empty, not undef' );
            is( $redis->strlen($k)->get,      0,     'STRLEN 0' );
            is( $redis->set( $k, 'v1' )->get, 'OK',  'SET again' );
            is( $redis->exists($k)->get,      1,     'the key exists' );
            is( $redis->del($k)->get,         1,     'DEL' );
        };

        subtest 'SET NX / XX / GET, hash style' => sub {
            my $k = "$base:hash-style";
            is( $redis->set( $k, 'a', xx => 1 )->get,  undef, 'XX on a missing key: undef' );
            is( $redis->exists($k)->get,               0,     '... and nothing written' );
            is( $redis->set( $k, 'a', nx => 1 )->get,  'OK',  'NX on a missing key: OK' );
            is( $redis->set( $k, 'b', nx => 1 )->get,  undef, 'NX on an existing key: undef' );
            is( $redis->get($k)->get,                  'a',   '... and the value unchanged' );
            is( $redis->set( $k, 'c', xx => 1 )->get,  'OK',  'XX on an existing key: OK' );
            is( $redis->get($k)->get,                  'c',   '... written' );
            is( $redis->set( $k, 'd', get => 1 )->get, 'c',   'GET yields the old value' );
            is( $redis->get($k)->get,                  'd',   '... and writes the new one' );
            is( $redis->set( $k, 'e', nx => 1, get => 1 )->get,
                'd', 'NX+GET on an existing key: the old value' );
            is( $redis->get($k)->get, 'd', '... and no write' );
            is( $redis->set( $k, 'f', nx => 0, xx => 0, get => 0 )->get,
                'OK', 'false flags are left out' );
            is( $redis->get($k)->get, 'f', '... a plain SET' );
            is( $redis->del($k)->get, 1,   'DEL' );
            is( $redis->set( $k, 'g', nx => 1, get => 1 )->get,
                undef, 'NX+GET on a missing key: undef (no old value)' );
            is( $redis->get($k)->get, 'g', '... and written' );
            $redis->del($k)->get;
        };

        subtest 'SET NX / XX / GET, word style' => sub {
            my $k = "$base:word-style";
            is( $redis->set( $k, 'a', 'XX' )->get,        undef, 'XX on a missing key: undef' );
            is( $redis->set( $k, 'a', 'NX' )->get,        'OK',  'NX on a missing key: OK' );
            is( $redis->set( $k, 'b', 'NX' )->get,        undef, 'NX on an existing key: undef' );
            is( $redis->set( $k, 'c', 'XX', 'GET' )->get, 'a',   'XX GET: the old value' );
            is( $redis->get($k)->get,                     'c',   '... written' );
            is( $redis->set( $k, 'd', 'nx', 'get' )->get,
                'c', 'lower-case words: NX GET blocked, the old value' );
            is( $redis->get($k)->get, 'c', '... not written' );
            $redis->del($k)->get;
        };

        subtest 'SET expiry options' => sub {
            my $k = "$base:expiry";
            is( $redis->set( $k, 'v', ex => 100 )->get, 'OK', 'SET EX (hash style)' );
            my $ttl = $redis->ttl($k)->get;
            ok( $ttl >= 1 && $ttl <= 100, "TTL in 1..100 ($ttl)" );
            is( $redis->set( $k, 'w', keepttl => 1 )->get, 'OK', 'SET KEEPTTL' );
            $ttl = $redis->ttl($k)->get;
            ok( $ttl >= 1 && $ttl <= 100, "the TTL kept ($ttl)" );
            is( $redis->get($k)->get,        'w',  '... with the new value' );
            is( $redis->set( $k, 'x' )->get, 'OK', 'plain SET' );
            is( $redis->ttl($k)->get,        -1,   'clears the TTL' );

            is( $redis->set( $k, 'y', 'PX', 100_000 )->get, 'OK', 'SET PX (word style)' );
            my $pttl = $redis->pttl($k)->get;
            ok( $pttl >= 1000 && $pttl <= 100_000, "PTTL in range ($pttl)" );

            my $now = $redis->time->get->{seconds};
            is( $redis->set( $k, 'z', exat => $now + 100 )->get, 'OK', 'SET EXAT' );
            is( $redis->expiretime($k)->get, $now + 100, 'EXPIRETIME is the time given' );
            is( $redis->set( $k, 'z', 'PXAT', ( $now + 200 ) * 1000 )->get, 'OK', 'SET PXAT' );
            is( $redis->pexpiretime($k)->get, ( $now + 200 ) * 1000, 'PEXPIRETIME likewise' );

            is( $redis->setex( $k, 100, 'se' )->get, 'OK', 'SETEX' );
            $ttl = $redis->ttl($k)->get;
            ok( $ttl >= 1 && $ttl <= 100, "SETEX set a TTL ($ttl)" );
            is( $redis->get($k)->get,                      'se', '... and the value' );
            is( $redis->psetex( $k, 100_000, 'pse' )->get, 'OK', 'PSETEX' );
            $pttl = $redis->pttl($k)->get;
            ok( $pttl >= 1000 && $pttl <= 100_000, "PSETEX set a TTL ($pttl)" );

            FIORTest::redis_error_ok( $redis, $redis->set( $k, 'v', ex => 0 ), 'ERR', 'SET EX 0' );
            FIORTest::redis_error_ok( $redis, $redis->set( $k, 'v', nx => 1, xx => 1 ),
                'ERR', 'SET NX XX' );
            is( $redis->get($k)->get, 'pse', 'failed SETs wrote nothing' );
            $redis->del($k)->get;
        };

        subtest 'SETNX, GETSET, GETDEL, GETEX' => sub {
            my $k = "$base:get-family";
            is( $redis->setnx( $k, 'first' )->get,  1,       'SETNX on a missing key: 1' );
            is( $redis->setnx( $k, 'second' )->get, 0,       'SETNX on an existing key: 0' );
            is( $redis->get($k)->get,               'first', '... the first value stays' );
            is( $redis->getset( $k, 'third' )->get, 'first', 'GETSET: the old value' );
            is( $redis->get($k)->get,               'third', '... and sets the new' );

            is( $redis->getex( $k, 'EX', 100 )->get, 'third', 'GETEX EX: the value' );
            my $ttl = $redis->ttl($k)->get;
            ok( $ttl >= 1 && $ttl <= 100, "... and a TTL ($ttl)" );
            is( $redis->getex( $k, 'PERSIST' )->get, 'third', 'GETEX PERSIST: the value' );
            is( $redis->ttl($k)->get,                -1,      '... and no TTL' );
            is( $redis->getex($k)->get,              'third', 'GETEX without options' );
            is( $redis->getex("$k:missing")->get,    undef,   'GETEX on a missing key: undef' );

            is( $redis->getdel($k)->get,          'third', 'GETDEL: the value' );
            is( $redis->exists($k)->get,          0,       '... and the key is gone' );
            is( $redis->getdel($k)->get,          undef,   'GETDEL again: undef' );
            is( $redis->getset( $k, 'new' )->get, undef,   'GETSET on a missing key: undef' );
            is( $redis->get($k)->get,             'new',   '... and sets it' );
            $redis->del($k)->get;
        };

        subtest 'MSET, MGET, MSETNX' => sub {
            my ( $a, $b, $c ) = map { "$base:m$_" } 1 .. 3;
            is( $redis->mset( $a, 'one', $b, 'two' )->get, 'OK', 'MSET' );
            is(
                $redis->mget( $a, $c, $b )->get,
                [ 'one', undef, 'two' ],
                'MGET: values in order, undef for a missing key'
            );
            is( $redis->msetnx( $b, 'x', $c, 'three' )->get, 0,     'MSETNX with one existing: 0' );
            is( $redis->exists($c)->get,                     0,     '... sets none' );
            is( $redis->get($b)->get,                        'two', '... changes none' );
            is( $redis->msetnx( $c, 'three', "$base:m4", 'four' )->get,
                1, 'MSETNX with none existing: 1' );
            is( $redis->mget( $a, $b, $c, "$base:m4" )->get,
                [qw(one two three four)], 'all four set' );
            is( $redis->del( $a, $b, $c, "$base:m4" )->get, 4, 'DEL counts 4' );
        };

        subtest 'APPEND, STRLEN, GETRANGE, SETRANGE, SUBSTR' => sub {
            my $k = "$base:range";
            is( $redis->append( $k, 'Hello' )->get,  5,  'APPEND to a missing key: length 5' );
            is( $redis->append( $k, ' World' )->get, 11, 'APPEND: the new length' );
            is( $redis->get($k)->get,                'Hello World', 'appended' );
            is( $redis->strlen($k)->get,             11,            'STRLEN' );
            is( $redis->strlen("$k:missing")->get,   0,             'STRLEN of a missing key: 0' );
            is( $redis->getrange( $k, 0, 4 )->get,   'Hello',       'GETRANGE 0 4' );
            is( $redis->getrange( $k, -5, -1 )->get, 'World',       'GETRANGE -5 -1' );
            is( $redis->getrange( $k, 0, -1 )->get,  'Hello World', 'GETRANGE 0 -1' );
            is( $redis->getrange( $k, 100, 200 )->get,   '',            'out of range: empty' );
            is( $redis->substr( $k, 6, 8 )->get,         'Wor',         'SUBSTR' );
            is( $redis->setrange( $k, 6, 'Redis' )->get, 11,            'SETRANGE: the length' );
            is( $redis->get($k)->get,                    'Hello Redis', 'overwritten in place' );

            my $pad = "$base:pad";
            is( $redis->setrange( $pad, 5, "x\xff" )->get, 7,           'SETRANGE past the end' );
            is( $redis->get($pad)->get,              "\0\0\0\0\0x\xff", 'zero-padded, bytes kept' );
            is( $redis->getrange( $pad, 5, 6 )->get, "x\xff", 'GETRANGE of binary bytes' );
            is( $redis->del( $k, $pad )->get,        2,       'DEL' );
        };

        subtest 'counters' => sub {
            my $k = "$base:counter";
            is( $redis->incr($k)->get,         1,     'INCR a missing key: 1' );
            is( $redis->incrby( $k, 10 )->get, 11,    'INCRBY 10' );
            is( $redis->decr($k)->get,         10,    'DECR' );
            is( $redis->decrby( $k, 25 )->get, -15,   'DECRBY below zero' );
            is( $redis->incrby( $k, -5 )->get, -20,   'INCRBY a negative amount' );
            is( $redis->get($k)->get,          '-20', 'GET: the number as a string' );

            $redis->set( $k, '9223372036854775806' )->get;
            is( $redis->incr($k)->get, '9223372036854775807', 'INCR up to 2**63-1, exact' );
            my $err
                = FIORTest::redis_error_ok( $redis, $redis->incr($k), 'ERR', 'INCR past 2**63-1' );
            like( $err->message, qr/overflow/, '... says overflow' );
            $redis->set( $k, '-9223372036854775807' )->get;
            is( $redis->decr($k)->get, '-9223372036854775808', 'DECR down to -2**63, exact' );

            $redis->set( $k, 'abc' )->get;
            $err = FIORTest::redis_error_ok( $redis, $redis->incr($k), 'ERR',
                'INCR of a non-number' );
            like( $err->message, qr/not an integer/, '... says not an integer' );
            is( $redis->get($k)->get, 'abc', 'the value unchanged' );
            $redis->del($k)->get;
        };

        subtest 'INCRBYFLOAT' => sub {
            my $k = "$base:float";
            is( $redis->incrbyfloat( $k, '10.5' )->get,  '10.5',    'on a missing key' );
            is( $redis->incrbyfloat( $k, '0.25' )->get,  '10.75',   '10.5 + 0.25' );
            is( $redis->incrbyfloat( $k, '-5' )->get,    '5.75',    'a negative increment' );
            is( $redis->incrbyfloat( $k, '5.0e3' )->get, '5005.75', 'exponent notation' );
            is( $redis->get($k)->get, '5005.75', 'stored as a string' );
            $redis->set( $k, '10.50' )->get;
            is( $redis->incrbyfloat( $k, '0.1' )->get,
                '10.6', '10.50 + 0.1: the shortest form, no trailing digits' );
            $redis->set( $k, 3 )->get;
            is( $redis->incrbyfloat( $k, '1.25' )->get, '4.25', 'from an integer value' );
            FIORTest::redis_error_ok( $redis, $redis->incr($k), 'ERR', 'INCR of a float value' );
            FIORTest::redis_error_ok( $redis, $redis->incrbyfloat( $k, 'nan' ),
                'ERR', 'INCRBYFLOAT by a non-number' );
            is( $redis->get($k)->get, '4.25', 'value unchanged by the failures' );
            $redis->del($k)->get;
        };

        subtest 'LCS' => sub {
            my ( $k1, $k2 ) = ( "$base:lcs1", "$base:lcs2" );
            $redis->mset( $k1, 'ohmytext', $k2, 'mynewtext' )->get;
            is( $redis->lcs( $k1, $k2 )->get, 'mytext', 'LCS: the string' );
            is( $redis->lcs( $k1, $k2, 'LEN' )->get, 6, 'LCS LEN: a number' );
            my $idx     = $redis->lcs( $k1, $k2, 'IDX', 'MINMATCHLEN', 4, 'WITHMATCHLEN' )->get;
            my $matches = [ [ [ 4, 7 ], [ 5, 8 ], 4 ] ];
            if ( $protocol == 3 ) {
                is( $idx, { matches => $matches, len => 6 }, 'LCS IDX: a map (hashref)' );
            }
            else {
                is( $idx, [ matches => $matches, len => 6 ], 'LCS IDX: a flat list' );
            }
            $redis->del( $k1, $k2 )->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $list = "$base:list";
            $redis->rpush( $list, 'x' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->get($list), 'WRONGTYPE',
                'GET of a list' );
            like( $err->message, qr/^WRONGTYPE /, 'the message is the server\'s' );
            FIORTest::redis_error_ok( $redis, $redis->append( $list, 'y' ),
                'WRONGTYPE', 'APPEND to a list' );
            FIORTest::redis_error_ok( $redis, $redis->incr($list), 'WRONGTYPE', 'INCR of a list' );
            is( $redis->lrange( $list, 0, -1 )->get,       ['x'], 'the list is untouched' );
            is( $redis->set( $list, 'now a string' )->get, 'OK',  'SET replaces any type' );
            is( $redis->get($list)->get,                   'now a string', 'and GET works on it' );
            $redis->del($list)->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
