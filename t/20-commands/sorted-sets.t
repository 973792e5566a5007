# Sorted-set commands through the generated methods, under RESP2 and RESP3:
# the values they return, the order and scores they leave - ZADD with
# NX/XX/GT/LT/CH/INCR, ZSCORE/ZMSCORE/ZINCRBY (RESP3 doubles are numbers
# as well as the server's text), ZRANGE by rank/score/lex with REV and
# LIMIT, ZRANGESTORE, ranks and counts, removals, ZPOPMIN/ZPOPMAX, ZMPOP and
# the blocking pops, ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD,
# ZRANDMEMBER, ZSCAN. WITHSCORES replies are a flat member, score list
# under RESP2 and [member, score] pairs under RESP3; both are asserted.
# Error replies (WRONGTYPE, ERR) fail the future with an Error::Redis object
# and the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(isdual);
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

# The expected WITHSCORES reply for member, score, ...: flat under RESP2,
# pairs under RESP3.
sub with_scores {
    my ( $protocol, @flat ) = @_;
    return [@flat] if $protocol == 2;
    my @pairs;
    push @pairs, [ splice @flat, 0, 2 ] while @flat;
    return \@pairs;
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('zsets');
        my $ws   = sub { with_scores( $protocol, @_ ) };

        # A score reply: the server's text, and under RESP3 a number too.
        my $score_ok = sub {
            my ( $got, $text, $name ) = @_;
            is( $got, $text, $name );
            ok( isdual($got), "$name: a double, text and number" ) if $protocol == 3;
            ok( defined $got && $got == $text, "$name: numerically $text" );
        };

        subtest 'ZADD, ZCARD, ZSCORE, ZMSCORE' => sub {
            my $k = "$base:add";
            is( $redis->zcard($k)->get, 0, 'ZCARD of a missing key: 0' );
            is( $redis->zadd( $k, 1, 'a', 2, 'b', '3.5', 'c' )->get, 3, 'ZADD: 3 added' );
            is( $redis->zadd( $k, 10, 'a', 4, 'd' )->get,            1, 'ZADD: counts only new' );
            is( $redis->zcard($k)->get,                              4, 'ZCARD' );
            $score_ok->( $redis->zscore( $k, 'a' )->get, '10',  'ZSCORE: updated' );
            $score_ok->( $redis->zscore( $k, 'c' )->get, '3.5', 'ZSCORE: a fraction' );
            is( $redis->zscore( $k, 'zz' )->get, undef, 'ZSCORE of a non-member: undef' );
            my $m = $redis->zmscore( $k, qw(b zz c) )->get;
            is( $m, [ '2', undef, '3.5' ], 'ZMSCORE: in order, undef for a non-member' );
            ok( isdual( $m->[2] ), 'ZMSCORE: doubles are numbers too' ) if $protocol == 3;

            is( $redis->zadd( $k, 'NX', 100, 'a', 5, 'e' )->get, 1,     'NX: only adds' );
            is( $redis->zscore( $k, 'a' )->get,                  '10',  '... a unchanged' );
            is( $redis->zadd( $k, 'XX', 20, 'a', 6, 'f' )->get,  0,     'XX: only updates' );
            is( $redis->zscore( $k, 'a' )->get,                  '20',  '... a updated' );
            is( $redis->zscore( $k, 'f' )->get,                  undef, '... f not added' );
            is( $redis->zadd( $k, 'XX', 'CH', 21, 'a', 2, 'b' )->get,
                1, 'CH: counts changed members' );
            is( $redis->zadd( $k, 'GT', 'CH', 5, 'a', 3, 'b' )->get,
                1, 'GT CH: only raises (b 2 -> 3)' );
            is( $redis->zmscore( $k, qw(a b) )->get, [ '21', '3' ],      '... a kept, b raised' );
            is( $redis->zadd( $k, 'LT', 'CH', 50, 'a', 1, 'b' )->get, 1, 'LT CH: only lowers' );
            is( $redis->zmscore( $k, qw(a b) )->get, [ '21', '1' ],      '... a kept, b lowered' );

            $score_ok->( $redis->zadd( $k, 'INCR', '0.5', 'b' )->get, '1.5', 'ZADD INCR' );
            is( $redis->zadd( $k, 'NX',   'INCR', 1, 'b' )->get, undef, 'NX INCR blocked: undef' );
            is( $redis->zadd( $k, '+inf', 'top',  '-inf', 'bottom' )->get, 2, 'infinite scores' );
            $score_ok->( $redis->zscore( $k, 'top' )->get, 'inf', 'ZSCORE +inf' );
            is( $redis->zscore( $k, 'bottom' )->get, '-inf', 'ZSCORE -inf' );

            my $err = FIORTest::redis_error_ok(
                $redis, $redis->zadd( $k, 'abc', 'x' ),
                'ERR',  'ZADD a score that is not a number'
            );
            like( $err->message, qr/not a valid float/, '... says not a valid float' );
            FIORTest::redis_error_ok( $redis, $redis->zadd( $k, 'NX', 'XX', 1, 'x' ),
                'ERR', 'ZADD NX XX' );
            FIORTest::redis_error_ok( $redis, $redis->zadd( $k, 'INCR', 1, 'x', 2, 'y' ),
                'ERR', 'ZADD INCR of two members' );
            is( $redis->zcard($k)->get, 7, 'the failures added nothing' );
            $redis->del($k)->get;
        };

        subtest 'ZINCRBY' => sub {
            my $k = "$base:incr";
            $score_ok->( $redis->zincrby( $k, 2,     'm' )->get, '2',    'of a new member' );
            $score_ok->( $redis->zincrby( $k, '0.5', 'm' )->get, '2.5',  'by a fraction' );
            $score_ok->( $redis->zincrby( $k, -10,   'm' )->get, '-7.5', 'by a negative amount' );
            is( $redis->zscore( $k, 'm' )->get, '-7.5', 'stored' );
            FIORTest::redis_error_ok( $redis, $redis->zincrby( $k, 'x', 'm' ),
                'ERR', 'ZINCRBY by a word' );
            $redis->del($k)->get;
        };

        subtest 'ZRANGE and friends' => sub {
            my $k = "$base:range";
            $redis->zadd( $k, 1, 'a', 2, 'b', 3, 'c', 4, 'd', '4.5', 'e' )->get;
            is( $redis->zrange( $k, 0,  -1 )->get, [qw(a b c d e)], 'ZRANGE 0 -1: by score' );
            is( $redis->zrange( $k, 1,  2 )->get,  [qw(b c)],       'ZRANGE 1 2' );
            is( $redis->zrange( $k, -2, -1 )->get, [qw(d e)],       'ZRANGE -2 -1' );
            is( $redis->zrange( $k, 0, 1, 'REV' )->get, [qw(e d)], 'ZRANGE REV' );
            my $got = $redis->zrange( $k, 0, -1, 'WITHSCORES' )->get;
            is(
                $got,
                $ws->( a => 1, b => 2, c => 3, d => 4, e => '4.5' ),
                'ZRANGE WITHSCORES: ' . ( $protocol == 3 ? 'pairs' : 'a flat list' )
            );
            ok( isdual( $got->[4][1] ), 'RESP3: the scores are doubles' ) if $protocol == 3;
            is( $redis->zrange( $k, 2,      3,      'BYSCORE' )->get, [qw(b c)], 'BYSCORE 2 3' );
            is( $redis->zrange( $k, '(2',   '4',    'BYSCORE' )->get, [qw(c d)], 'exclusive (2' );
            is( $redis->zrange( $k, '-inf', '+inf', 'BYSCORE', 'LIMIT', 1, 2 )->get,
                [qw(b c)], 'BYSCORE LIMIT 1 2' );
            is(
                $redis->zrange( $k, '+inf', '(4', 'BYSCORE', 'REV', 'WITHSCORES' )->get,
                $ws->( e => '4.5' ),
                'BYSCORE REV WITHSCORES'
            );
            is( $redis->zrange( $k, 10, 20 )->get, [], 'a range past the end: []' );
            is(
                $redis->zrangebyscore( $k, 3, '+inf', 'WITHSCORES' )->get,
                $ws->( c => 3, d => 4, e => '4.5' ),
                'ZRANGEBYSCORE WITHSCORES'
            );
            is(
                $redis->zrevrange( $k, 0, 1, 'WITHSCORES' )->get,
                $ws->( e => '4.5', d => 4 ),
                'ZREVRANGE WITHSCORES'
            );
            is( $redis->zrevrangebyscore( $k, 2, '-inf' )->get, [qw(b a)], 'ZREVRANGEBYSCORE' );

            is( $redis->zrank( $k, 'c' )->get,         2,     'ZRANK' );
            is( $redis->zrevrank( $k, 'c' )->get,      2,     'ZREVRANK' );
            is( $redis->zrank( $k, 'a' )->get,         0,     'ZRANK of the lowest: 0' );
            is( $redis->zrank( $k, 'zz' )->get,        undef, 'ZRANK of a non-member: undef' );
            is( $redis->zcount( $k, 2, 4 )->get,       3,     'ZCOUNT 2 4' );
            is( $redis->zcount( $k, '(2', '(4' )->get, 1,     'ZCOUNT exclusive' );

            my $dst = "$base:range:dst";
            is( $redis->zrangestore( $dst, $k, 1, 3 )->get, 3, 'ZRANGESTORE: the count' );
            is(
                $redis->zrange( $dst, 0, -1, 'WITHSCORES' )->get,
                $ws->( b => 2, c => 3, d => 4 ),
                '... stored with their scores'
            );
            is( $redis->zrangestore( $dst, $k, '(3', '+inf', 'BYSCORE', 'LIMIT', 0, 1 )->get,
                1, 'ZRANGESTORE BYSCORE LIMIT: replaces' );
            is( $redis->zrange( $dst, 0, -1 )->get,           ['d'], '... stored' );
            is( $redis->zrangestore( $dst, $k, 10, 20 )->get, 0,     'an empty range: 0' );
            is( $redis->exists($dst)->get,                    0,     '... and no destination' );
            $redis->del($k)->get;
        };

        subtest 'lexicographic ranges' => sub {
            my $k = "$base:lex";
            $redis->zadd( $k, map { ( 0, $_ ) } qw(a b c d e f g) )->get;
            is( $redis->zrange( $k, '[b', '(e', 'BYLEX' )->get, [qw(b c d)], 'ZRANGE BYLEX' );
            is( $redis->zrange( $k, '-', '+', 'BYLEX', 'LIMIT', 5, 10 )->get,
                [qw(f g)], 'BYLEX LIMIT' );
            is( $redis->zrange( $k, '[c', '-', 'BYLEX', 'REV' )->get, [qw(c b a)], 'BYLEX REV' );
            is( $redis->zrangebylex( $k, '(e', '+' )->get,            [qw(f g)],   'ZRANGEBYLEX' );
            is( $redis->zrevrangebylex( $k, '[b', '-' )->get,         [qw(b a)], 'ZREVRANGEBYLEX' );
            is( $redis->zlexcount( $k, '[b', '[d' )->get,             3,         'ZLEXCOUNT' );
            is( $redis->zremrangebylex( $k, '[a', '(c' )->get,        2,         'ZREMRANGEBYLEX' );
            is( $redis->zrange( $k, 0, -1 )->get, [qw(c d e f g)], '... removed a and b' );
            FIORTest::redis_error_ok(
                $redis, $redis->zrangebylex( $k, 'b', 'c' ),
                'ERR',  'ZRANGEBYLEX without [ or ('
            );
            $redis->del($k)->get;
        };

        subtest 'ZREM and removal by rank and score' => sub {
            my $k = "$base:rem";
            $redis->zadd( $k, map { ( $_, "m$_" ) } 1 .. 10 )->get;
            is( $redis->zrem( $k, qw(m1 zz m2) )->get,             2,      'ZREM: counts removed' );
            is( $redis->zremrangebyrank( $k, 0, 1 )->get,          2,      'ZREMRANGEBYRANK 0 1' );
            is( $redis->zrange( $k, 0, 0 )->get,                   ['m5'], '... m3 and m4 gone' );
            is( $redis->zremrangebyscore( $k, '(8', '+inf' )->get, 2, 'ZREMRANGEBYSCORE (8 +inf' );
            is( $redis->zrange( $k, 0, -1 )->get,                  [qw(m5 m6 m7 m8)], 'left' );
            is( $redis->zremrangebyscore( $k, '-inf', '+inf' )->get, 4, 'remove all' );
            is( $redis->exists($k)->get,                             0, 'the empty set is gone' );
        };

        subtest 'ZPOPMIN, ZPOPMAX, ZMPOP' => sub {
            my $k = "$base:pop";
            $redis->zadd( $k, 1, 'a', 2, 'b', 3, 'c', 4, 'd', 5, 'e', 6, 'f' )->get;
            is( $redis->zpopmin($k)->get, [ 'a', '1' ], 'ZPOPMIN: [member, score]' );
            is( $redis->zpopmax($k)->get, [ 'f', '6' ], 'ZPOPMAX: [member, score]' );
            is(
                $redis->zpopmin( $k, 2 )->get,
                $ws->( b => 2, c => 3 ),
                'ZPOPMIN 2: ' . ( $protocol == 3 ? 'pairs' : 'a flat list' )
            );
            is( $redis->zpopmax( $k, 1 )->get,      $ws->( e => 5 ), 'ZPOPMAX 1' );
            is( $redis->zrange( $k, 0, -1 )->get,   ['d'],           'one left' );
            is( $redis->zpopmin("$k:missing")->get, [], 'ZPOPMIN of a missing key: []' );

            my $k2 = "$base:pop2";
            $redis->zadd( $k2, 10, 'x', 20, 'y', 30, 'z' )->get;
            is(
                $redis->zmpop( 2, "$k:missing", $k2, 'MIN' )->get,
                [ $k2, [ [ 'x', '10' ] ] ],
                'ZMPOP: [key, [[member, score]]], skips empty keys'
            );
            my $two = $redis->zmpop( 1, $k2, 'MAX', 'COUNT', 5 )->get;
            is( $two, [ $k2, [ [ 'z', '30' ], [ 'y', '20' ] ] ], 'ZMPOP MAX COUNT 5' );
            ok( isdual( $two->[1][0][1] ), 'RESP3: scores are doubles' ) if $protocol == 3;
            is( $redis->zmpop( 1, $k2, 'MIN' )->get, undef, 'ZMPOP of empty keys: undef' );

            is(
                $redis->bzpopmin( "$k:missing", $k, 1 )->get,
                [ $k, 'd', '4' ],
                'BZPOPMIN with data: [key, member, score]'
            );
            $redis->zadd( $k, 1, 'p', 2, 'q', 3, 'r' )->get;
            is( $redis->bzpopmax( $k, 1 )->get, [ $k, 'r', '3' ], 'BZPOPMAX with data' );
            is(
                $redis->bzmpop( 1, 1, $k, 'MIN', 'COUNT', 2 )->get,
                [ $k, [ [ 'p', '1' ], [ 'q', '2' ] ] ],
                'BZMPOP with data'
            );
            is( $redis->bzpopmin( $k, '0.1' )->get, undef, 'BZPOPMIN that times out: undef' );
            is( $redis->bzmpop( '0.1', 1, $k, 'MAX' )->get, undef, 'BZMPOP that times out' );
            is( $redis->exists( $k, $k2 )->get,             0,     'both empty' );
        };

        subtest 'ZUNION, ZINTER, ZDIFF, STORE forms, ZINTERCARD' => sub {
            my ( $k1, $k2, $out ) = map { "$base:alg:$_" } qw(1 2 out);
            $redis->zadd( $k1, 1,  'a', 2,  'b', 3,  'c' )->get;
            $redis->zadd( $k2, 10, 'b', 20, 'c', 30, 'd' )->get;
            is(
                $redis->zunion( 2, $k1, $k2, 'WITHSCORES' )->get,
                $ws->( a => 1, b => 12, c => 23, d => 30 ),
                'ZUNION WITHSCORES: sums'
            );
            is(
                $redis->zunion( 2, $k1, $k2, 'AGGREGATE', 'MIN', 'WITHSCORES' )->get,
                $ws->( a => 1, b => 2, c => 3, d => 30 ),
                'AGGREGATE MIN'
            );
            is(
                $redis->zinter( 2, $k1, $k2, 'WEIGHTS', 2, '0.5', 'WITHSCORES' )->get,
                $ws->( b => 9, c => 16 ),
                'ZINTER WEIGHTS 2 0.5'
            );
            is( $redis->zinter( 2, $k1, $k2 )->get, [qw(b c)], 'ZINTER without scores' );
            is( $redis->zdiff( 2, $k2, $k1, 'WITHSCORES' )->get, $ws->( d => 30 ), 'ZDIFF' );
            is( $redis->zdiff( 2, $k1, $k1 )->get,               [], 'ZDIFF with itself: []' );

            is( $redis->zunionstore( $out, 2, $k1, $k2, 'AGGREGATE', 'MAX' )->get,
                4, 'ZUNIONSTORE: the count' );
            is(
                $redis->zrange( $out, 0, -1, 'WITHSCORES' )->get,
                $ws->( a => 1, b => 10, c => 20, d => 30 ),
                '... stored, MAX of each'
            );
            is( $redis->zinterstore( $out, 2, $k1, $k2 )->get, 2, 'ZINTERSTORE replaces' );
            is(
                $redis->zrange( $out, 0, -1, 'WITHSCORES' )->get,
                $ws->( b => 12, c => 23 ),
                '... stored'
            );
            is( $redis->zdiffstore( $out, 2, $k1, $k2 )->get,     1,               'ZDIFFSTORE' );
            is( $redis->zrange( $out, 0, -1, 'WITHSCORES' )->get, $ws->( a => 1 ), '... stored' );

            is( $redis->zintercard( 2, $k1, $k2 )->get,                 2, 'ZINTERCARD' );
            is( $redis->zintercard( 1, $k2, 'LIMIT', 2 )->get,          2, 'ZINTERCARD LIMIT' );
            is( $redis->zintercard( 2, $k1, "$base:alg:missing" )->get, 0, 'with a missing key' );
            is( $redis->del( $k1, $k2, $out )->get,                     3, 'DEL' );
        };

        subtest 'ZRANDMEMBER, ZSCAN' => sub {
            my $k   = "$base:rand";
            my %all = map { ( "m$_" => $_ ) } 1 .. 5;
            $redis->zadd( $k, map { ( $all{$_}, $_ ) } sort keys %all )->get;
            like( $redis->zrandmember($k)->get, qr/^m[1-5]$/, 'ZRANDMEMBER: a member' );
            my $three = $redis->zrandmember( $k, 3 )->get;
            is( scalar( keys %{ { map { $_ => 1 } @$three } } ), 3, 'COUNT 3: distinct' );
            my $rep = $redis->zrandmember( $k, -9 )->get;
            is( scalar @$rep, 9, 'a negative COUNT: that many, repeats allowed' );
            ok( !( grep { !exists $all{$_} } @$rep ), '... all members' );
            my $with  = $redis->zrandmember( $k, 5, 'WITHSCORES' )->get;
            my %pairs = $protocol == 3 ? ( map { @$_ } @$with ) : @$with;
            is(
                scalar @$with,
                $protocol == 3 ? 5 : 10,
                'WITHSCORES: ' . ( $protocol == 3 ? 'pairs' : 'a flat list' )
            );
            is( \%pairs,                                \%all, '... each member with its score' );
            is( $redis->zrandmember("$k:missing")->get, undef, 'of a missing key: undef' );

            my ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->zscan( $k, $cursor )->get;
                ( $cursor, my $flat ) = @$reply;
                %seen = ( %seen, @$flat );
            } while ( $cursor ne '0' && ++$rounds < 100_000 );
            is( \%seen, \%all, 'ZSCAN: member, score pairs, under either protocol' );
            $redis->del($k)->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->zadd( $s, 1, 'm' ),
                'WRONGTYPE', 'ZADD to a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->zrange( $s, 0, -1, 'WITHSCORES' ),
                'WRONGTYPE', 'ZRANGE of a string' );
            FIORTest::redis_error_ok(
                $redis,      $redis->zunionstore( "$s:out", 1, $s ),
                'WRONGTYPE', 'ZUNIONSTORE from a string'
            );
            is( $redis->get($s)->get,                 'v', 'the string is untouched' );
            is( $redis->exists("$s:out")->get,        0,   'no destination' );
            is( $redis->zadd( "$s:z", 1, 'ok' )->get, 1,   'zset commands still work' );
            $redis->del( $s, "$s:z" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
