# List commands through the generated methods, under RESP2 and RESP3: the
# values they return and the order they leave the elements in - pushes and
# pops (with COUNT), LRANGE/LINDEX/LSET/LINSERT/LREM/LTRIM, LPOS with
# RANK/COUNT/MAXLEN, LMOVE/RPOPLPUSH, LMPOP, the blocking pops when there is
# data and when the timeout ends them, SORT - and that error replies
# (WRONGTYPE, ERR) fail the future with an Error::Redis object while the
# client keeps working.
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
        my $base = FIORTest::unique_key('lists');

        subtest 'LPUSH, RPUSH, LPUSHX, RPUSHX, LRANGE, LLEN' => sub {
            my $k = "$base:push";
            is( $redis->lrange( $k, 0, -1 )->get, [], 'LRANGE of a missing key: []' );
            is( $redis->llen($k)->get,            0,  'LLEN of a missing key: 0' );
            is( $redis->lpushx( $k, 'x' )->get,   0,  'LPUSHX on a missing key: 0' );
            is( $redis->rpushx( $k, 'x' )->get,   0,  'RPUSHX on a missing key: 0' );
            is( $redis->exists($k)->get,          0,  '... nothing created' );

            is( $redis->lpush( $k, qw(a b c) )->get, 3,           'LPUSH a b c: length 3' );
            is( $redis->lrange( $k, 0, -1 )->get,    [qw(c b a)], 'LPUSH puts each at the head' );
            is( $redis->rpush( $k, qw(d e) )->get,   5,           'RPUSH d e: length 5' );
            is( $redis->lrange( $k, 0, -1 )->get,  [qw(c b a d e)],     'RPUSH appends in order' );
            is( $redis->lpushx( $k, 'h' )->get,    6,                   'LPUSHX on a list' );
            is( $redis->rpushx( $k, 't' )->get,    7,                   'RPUSHX on a list' );
            is( $redis->lrange( $k, 0, -1 )->get,  [qw(h c b a d e t)], 'both ends' );
            is( $redis->llen($k)->get,             7,                   'LLEN' );
            is( $redis->lrange( $k, 1, 3 )->get,   [qw(c b a)],         'LRANGE 1 3' );
            is( $redis->lrange( $k, -2, -1 )->get, [qw(e t)],           'LRANGE -2 -1' );
            is( $redis->lrange( $k, 5, 100 )->get, [qw(e t)],           'an end past the list' );
            is( $redis->lrange( $k, 10, 20 )->get, [],                  'a range past the list' );
            is( $redis->rpush( $k, "\0\xff", '' )->get, 9, 'binary and empty elements' );
            is( $redis->lrange( $k, -2, -1 )->get,      [ "\0\xff", '' ], '... come back intact' );
            $redis->del($k)->get;
        };

        subtest 'LINDEX, LSET, LINSERT' => sub {
            my $k = "$base:index";
            $redis->rpush( $k, qw(a b c) )->get;
            is( $redis->lindex( $k, 0 )->get,     'a',         'LINDEX 0' );
            is( $redis->lindex( $k, -1 )->get,    'c',         'LINDEX -1' );
            is( $redis->lindex( $k, 5 )->get,     undef,       'LINDEX out of range: undef' );
            is( $redis->lset( $k, 1, 'B' )->get,  'OK',        'LSET' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(a B c)], '... replaced in place' );
            my $err = FIORTest::redis_error_ok( $redis, $redis->lset( $k, 10, 'x' ),
                'ERR', 'LSET out of range' );
            like( $err->message, qr/out of range/, '... says out of range' );

            is( $redis->linsert( $k, 'BEFORE', 'B', 'x' )->get, 4, 'LINSERT BEFORE: length' );
            is( $redis->linsert( $k, 'AFTER',  'c', 'y' )->get, 5, 'LINSERT AFTER: length' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(a x B c y)], '... in their places' );
            is( $redis->linsert( $k, 'BEFORE', 'nope', 'z' )->get,
                -1, 'LINSERT with a missing pivot: -1' );
            is( $redis->linsert( "$k:missing", 'BEFORE', 'a', 'z' )->get,
                0, 'LINSERT into a missing key: 0' );
            is( $redis->llen($k)->get, 5, 'nothing inserted' );
            $redis->del($k)->get;
        };

        subtest 'LREM, LTRIM' => sub {
            my $k = "$base:rem";
            $redis->rpush( $k, qw(x a x b x c x) )->get;
            is( $redis->lrem( $k, 2, 'x' )->get,  2, 'LREM 2: removes 2 from the head' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(a b x c x)], '... the first two' );
            is( $redis->lrem( $k, -1, 'x' )->get, 1,               'LREM -1: one from the tail' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(a b x c)],   '... the last one' );
            is( $redis->lrem( $k, 0, 'x' )->get,  1,               'LREM 0: all the rest' );
            is( $redis->lrem( $k, 0, 'x' )->get,  0,               'LREM of an absent value: 0' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(a b c)],     'left' );

            $redis->rpush( $k, qw(d e f) )->get;
            is( $redis->ltrim( $k, 1, -2 )->get,  'OK',          'LTRIM: OK' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(b c d e)], '... keeps 1..-2' );
            is( $redis->ltrim( $k, 5, 10 )->get,  'OK',          'LTRIM to an empty range' );
            is( $redis->exists($k)->get,          0,             '... deletes the key' );
        };

        subtest 'LPOP, RPOP with and without COUNT' => sub {
            my $k = "$base:pop";
            $redis->rpush( $k, 1 .. 6 )->get;
            is( $redis->lpop($k)->get,       '1',      'LPOP: one value' );
            is( $redis->rpop($k)->get,       '6',      'RPOP: one value' );
            is( $redis->lpop( $k, 2 )->get,  [ 2, 3 ], 'LPOP 2: an array, head first' );
            is( $redis->rpop( $k, 1 )->get,  [5],      'RPOP 1: an array of one' );
            is( $redis->rpop( $k, 10 )->get, [4],      'RPOP more than there is' );
            is( $redis->exists($k)->get,     0,        'the empty list is gone' );
            is( $redis->lpop($k)->get,       undef,    'LPOP of a missing key: undef' );
            is( $redis->rpop( $k, 2 )->get,  undef,    'RPOP 2 of a missing key: undef' );
        };

        subtest 'LPOS' => sub {
            my $k = "$base:lpos";
            $redis->rpush( $k, qw(a b c d 1 2 3 4 3 3 3) )->get;
            is( $redis->lpos( $k, '3' )->get,             6,        'LPOS: the first index' );
            is( $redis->lpos( $k, '3', 'RANK', 2 )->get,  8,        'RANK 2: the second match' );
            is( $redis->lpos( $k, '3', 'RANK', -1 )->get, 10,       'RANK -1: from the tail' );
            is( $redis->lpos( $k, '3', 'COUNT', 2 )->get, [ 6, 8 ], 'COUNT 2: an array' );
            is( $redis->lpos( $k, '3', 'COUNT', 0 )->get, [ 6, 8, 9, 10 ], 'COUNT 0: all' );
            is(
                $redis->lpos( $k, '3', 'RANK', -1, 'COUNT', 2 )->get,
                [ 10, 9 ],
                'RANK -1 COUNT 2: from the tail'
            );
            is( $redis->lpos( $k, '3', 'COUNT', 0, 'MAXLEN', 8 )->get,
                [6], 'MAXLEN 8: looks at 8 elements only' );
            is( $redis->lpos( $k, 'zz' )->get, undef, 'no match: undef' );
            is( $redis->lpos( $k, 'zz', 'COUNT', 0 )->get, [], 'no match with COUNT: []' );
            FIORTest::redis_error_ok( $redis, $redis->lpos( $k, 'a', 'RANK', 0 ),
                'ERR', 'LPOS RANK 0' );
            $redis->del($k)->get;
        };

        subtest 'LMOVE, RPOPLPUSH' => sub {
            my ( $src, $dst ) = ( "$base:move:src", "$base:move:dst" );
            $redis->rpush( $src, qw(a b c) )->get;
            is( $redis->lmove( $src, $dst, 'RIGHT', 'LEFT' )->get, 'c',       'LMOVE RIGHT LEFT' );
            is( $redis->lmove( $src, $dst, 'LEFT', 'RIGHT' )->get, 'a',       'LMOVE LEFT RIGHT' );
            is( $redis->lrange( $src, 0, -1 )->get,                ['b'],     'the source' );
            is( $redis->lrange( $dst, 0, -1 )->get,                [qw(c a)], 'the destination' );
            is( $redis->rpoplpush( $dst, $dst )->get, 'a',       'RPOPLPUSH onto itself: rotates' );
            is( $redis->lrange( $dst, 0, -1 )->get,   [qw(a c)], '... rotated' );
            is( $redis->rpoplpush( $src, $dst )->get, 'b',       'RPOPLPUSH' );
            is( $redis->lrange( $dst, 0, -1 )->get,   [qw(b a c)], '... pushed at the head' );
            is( $redis->exists($src)->get,            0,           'the emptied source is gone' );
            is( $redis->lmove( $src, $dst, 'LEFT', 'LEFT' )->get,
                undef, 'LMOVE from a missing key: undef' );
            is( $redis->llen($dst)->get, 3, '... nothing moved' );
            $redis->del($dst)->get;
        };

        subtest 'LMPOP' => sub {
            my ( $k1, $k2 ) = ( "$base:mpop:1", "$base:mpop:2" );
            $redis->rpush( $k2, qw(a b c d) )->get;
            is(
                $redis->lmpop( 2, $k1, $k2, 'LEFT' )->get,
                [ $k2, ['a'] ],
                'LMPOP skips the empty key: [key, [elements]]'
            );
            is(
                $redis->lmpop( 2, $k1, $k2, 'RIGHT', 'COUNT', 2 )->get,
                [ $k2, [qw(d c)] ],
                'RIGHT COUNT 2: from the tail'
            );
            is(
                $redis->lmpop( 1, $k2, 'LEFT', 'COUNT', 10 )->get,
                [ $k2, ['b'] ],
                'COUNT more than there is'
            );
            is( $redis->lmpop( 2, $k1, $k2, 'LEFT' )->get, undef, 'all empty: undef' );
            FIORTest::redis_error_ok( $redis, $redis->lmpop( 0, 'LEFT' ),
                'ERR', 'LMPOP of no keys' );
        };

        subtest 'blocking pops' => sub {
            my ( $k1, $k2 ) = ( "$base:block:1", "$base:block:2" );
            $redis->rpush( $k2, qw(x y z) )->get;
            is( $redis->blpop( $k1, $k2, 1 )->get, [ $k2, 'x' ], 'BLPOP with data: [key, value]' );
            is( $redis->brpop( $k1, $k2, 1 )->get, [ $k2, 'z' ], 'BRPOP with data' );
            is(
                $redis->blmpop( 1, 2, $k1, $k2, 'LEFT', 'COUNT', 5 )->get,
                [ $k2, ['y'] ],
                'BLMPOP with data'
            );
            is( $redis->blpop( $k1, $k2, '0.1' )->get, undef, 'BLPOP that times out: undef' );
            is( $redis->blmove( $k1, $k2, 'LEFT', 'LEFT', '0.1' )->get,
                undef, 'BLMOVE that times out: undef' );
            is( $redis->ping->get,               'PONG', 'the client still answers' );
            is( $redis->exists( $k1, $k2 )->get, 0,      'both empty' );
        };

        subtest 'SORT' => sub {
            my $k = "$base:sort";
            $redis->rpush( $k, qw(10 2 33 -1 2.5) )->get;
            is( $redis->sort($k)->get, [qw(-1 2 2.5 10 33)],                 'SORT: numeric' );
            is( $redis->sort( $k, 'DESC', 'LIMIT', 0, 2 )->get, [qw(33 10)], 'DESC LIMIT 0 2' );
            is( $redis->sort( $k, 'ALPHA' )->get,   [qw(-1 10 2 2.5 33)],    'ALPHA: as strings' );
            is( $redis->sort_ro( $k, 'DESC' )->get, [qw(33 10 2.5 2 -1)],    'SORT_RO' );
            is( $redis->sort( $k, 'STORE', "$k:out" )->get, 5, 'SORT STORE: the count' );
            is( $redis->lrange( "$k:out", 0, -1 )->get,     [qw(-1 2 2.5 10 33)], '... stored' );
            is( $redis->lrange( $k, 0, -1 )->get, [qw(10 2 33 -1 2.5)], 'the source unchanged' );
            $redis->rpush( $k, 'abc' )->get;
            FIORTest::redis_error_ok( $redis, $redis->sort($k), 'ERR', 'numeric SORT of a word' );
            is( $redis->del( $k, "$k:out" )->get, 2, 'DEL' );
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->lpush( $s, 'x' ),
                'WRONGTYPE', 'LPUSH onto a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->lrange( $s, 0, -1 ),
                'WRONGTYPE', 'LRANGE of a string' );
            FIORTest::redis_error_ok( $redis, $redis->lmpop( 1, $s, 'LEFT' ),
                'WRONGTYPE', 'LMPOP of a string' );
            is( $redis->get($s)->get,                  'v', 'the string is untouched' );
            is( $redis->rpush( "$s:list", 'ok' )->get, 1,   'list commands still work' );
            $redis->del( $s, "$s:list" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
