# HyperLogLog commands through the generated methods, under RESP2 and RESP3:
# PFADD (1 when the estimate may have changed, 0 when not), PFCOUNT of one
# key and of the union of several, PFMERGE into a new and an existing key;
# an HLL is a string (TYPE, GET) that survives a round trip; error replies
# (WRONGTYPE for another type and for a string that is not an HLL) fail the
# future with an Error::Redis object and the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

# An estimate within 3% of the true count (the standard error is 0.81%).
sub about {
    my ( $got, $want, $name ) = @_;
    ok(
        defined $got && abs( $got - $want ) <= $want * 0.03,
        "$name (" . ( $got // 'undef' ) . " ~ $want)"
    );
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('hll');

        subtest 'PFADD, PFCOUNT' => sub {
            my $k = "$base:small";
            is( $redis->pfcount($k)->get, 0, 'PFCOUNT of a missing key: 0' );
            is( $redis->pfadd($k)->get,   1, 'PFADD without elements creates the key: 1' );
            is( $redis->pfadd($k)->get,   0, '... and again: 0' );
            is( $redis->pfcount($k)->get, 0, 'an empty HLL counts 0' );
            is( $redis->pfadd( $k, qw(a b c d e f g) )->get, 1, 'PFADD of new elements: 1' );
            is( $redis->pfcount($k)->get, 7, 'PFCOUNT of 7 distinct: 7 (small sets are exact)' );
            is( $redis->pfadd( $k, qw(a b c) )->get,    0, 'PFADD of seen elements: 0' );
            is( $redis->pfadd( $k, "\0\xff", '' )->get, 1, 'binary and empty elements' );
            is( $redis->pfcount($k)->get,               9, '... counted' );

            is( $redis->type($k)->get, 'string', 'TYPE: an HLL is a string' );
            like( $redis->get($k)->get, qr/^HYLL/, 'GET: its bytes begin with HYLL' );
            my $copy = "$base:copy";
            is( $redis->set( $copy, $redis->get($k)->get )->get, 'OK', 'SET its bytes elsewhere' );
            is( $redis->pfcount($copy)->get,   9, '... a working HLL: binary-safe both ways' );
            is( $redis->del( $k, $copy )->get, 2, 'DEL' );
        };

        subtest 'large cardinalities' => sub {
            my ( $k1, $k2 ) = ( "$base:big1", "$base:big2" );
            for my $chunk ( 0 .. 9 ) {
                $redis->pfadd( $k1, map { "item:$_" } $chunk * 500 + 1 .. $chunk * 500 + 500 )->get;
            }
            my $estimate = $redis->pfcount($k1)->get;
            about( $estimate, 5000, 'PFCOUNT of 5000 distinct' );
            is( $redis->pfadd( $k1, map { "item:$_" } 1 .. 1000 )->get, 0, 'PFADD of repeats: 0' );
            is( $redis->pfcount($k1)->get, $estimate, '... the estimate unchanged' );
            $redis->pfadd( $k2, map { "item:$_" } 4001 .. 8000 )->get;
            about( $redis->pfcount($k2)->get, 4000, 'a second HLL' );
            about( $redis->pfcount( $k1, $k2 )->get, 8000, 'PFCOUNT of two keys: the union' );
            about( $redis->pfcount( $k1, "$base:missing" )->get, 5000, 'with a missing key' );
            is( $redis->exists("$base:missing")->get, 0, '... which stays missing' );

            my $merged = "$base:merged";
            is( $redis->pfmerge( $merged, $k1, $k2 )->get, 'OK', 'PFMERGE into a new key' );
            about( $redis->pfcount($merged)->get, 8000, '... the union' );
            is(
                $redis->pfcount($merged)->get,
                $redis->pfcount( $k1, $k2 )->get,
                '... the same estimate as PFCOUNT of both'
            );
            about( $redis->pfcount($k2)->get, 4000, 'the sources unchanged' );
            is( $redis->pfmerge( $k2, $k1 )->get, 'OK', 'PFMERGE into an existing key' );
            about( $redis->pfcount($k2)->get, 8000, '... includes what it had' );
            is( $redis->pfmerge("$base:empty")->get, 'OK',               'PFMERGE of no sources' );
            is( $redis->pfcount("$base:empty")->get, 0,                  '... an empty HLL' );
            is( $redis->del( $k1, $k2, $merged, "$base:empty" )->get, 4, 'DEL' );
        };

        subtest 'WRONGTYPE' => sub {
            my ( $list, $str ) = ( "$base:list", "$base:string" );
            $redis->rpush( $list, 'x' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->pfadd( $list, 'a' ),
                'WRONGTYPE', 'PFADD to a list' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->pfcount($list),
                'WRONGTYPE', 'PFCOUNT of a list' );

            $redis->set( $str, 'not an HLL' )->get;
            $err = FIORTest::redis_error_ok( $redis, $redis->pfadd( $str, 'a' ),
                'WRONGTYPE', 'PFADD to a plain string' );
            like( $err->message, qr/HyperLogLog/, '... says it is not a HyperLogLog' );
            FIORTest::redis_error_ok(
                $redis,      $redis->pfmerge( "$base:out", $str ),
                'WRONGTYPE', 'PFMERGE from a plain string'
            );
            is( $redis->exists("$base:out")->get,      0,            'no destination' );
            is( $redis->get($str)->get,                'not an HLL', 'the string is untouched' );
            is( $redis->lrange( $list, 0, -1 )->get,   ['x'],        'the list is untouched' );
            is( $redis->pfadd( "$base:ok", 'a' )->get, 1,            'HLL commands still work' );
            $redis->del( $list, $str, "$base:ok" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
