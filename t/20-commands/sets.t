# Set commands through the generated methods, under RESP2 and RESP3 (where
# SMEMBERS and friends answer with a RESP3 set, still an array reference):
# the values they return and the members they leave - SADD/SREM/SCARD,
# SISMEMBER/SMISMEMBER, SPOP/SRANDMEMBER with counts, SMOVE,
# SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD with LIMIT, SSCAN -
# and that error replies (WRONGTYPE, ERR) fail the future with an
# Error::Redis object while the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

# Members, in a stable order.
sub sorted { return [ sort @{ $_[0] } ] }

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('sets');

        subtest 'SADD, SMEMBERS, SCARD, SREM' => sub {
            my $k = "$base:basic";
            is( $redis->smembers($k)->get,          [], 'SMEMBERS of a missing key: []' );
            is( $redis->scard($k)->get,             0,  'SCARD of a missing key: 0' );
            is( $redis->sadd( $k, qw(a b c) )->get, 3,  'SADD: 3 added' );
            is( $redis->sadd( $k, qw(c d d) )->get, 1,  'SADD: counts only new members' );
            my $members = $redis->smembers($k)->get;
            is( ref $members,                     'ARRAY',        'SMEMBERS: an array reference' );
            is( sorted($members),                 [qw(a b c d)],  '... of the members, once each' );
            is( $redis->scard($k)->get,           4,              'SCARD' );
            is( $redis->srem( $k, qw(a z) )->get, 1,              'SREM: counts removed' );
            is( sorted( $redis->smembers($k)->get ), [qw(b c d)], 'left' );
            my $bin = "\0\xff";
            is( $redis->sadd( $k, $bin, '' )->get,   2, 'binary and empty members' );
            is( $redis->sismember( $k, $bin )->get,  1, '... are members' );
            is( sorted( $redis->smembers($k)->get ), [ sort( '', $bin, qw(b c d) ) ], 'intact' );
            is( $redis->srem( $k, qw(b c d), $bin, '' )->get, 5, 'SREM all' );
            is( $redis->exists($k)->get,                      0, 'the empty set is gone' );
        };

        subtest 'SISMEMBER, SMISMEMBER' => sub {
            my $k = "$base:member";
            $redis->sadd( $k, qw(x y) )->get;
            is( $redis->sismember( $k,           'x' )->get, 1, 'SISMEMBER: 1' );
            is( $redis->sismember( $k,           'z' )->get, 0, 'SISMEMBER of a non-member: 0' );
            is( $redis->sismember( "$k:missing", 'x' )->get, 0, 'of a missing key: 0' );
            is(
                $redis->smismember( $k, qw(z x y x) )->get,
                [ 0, 1, 1, 1 ],
                'SMISMEMBER: one answer per name, in order'
            );
            is( $redis->smismember( "$k:missing", qw(a b) )->get, [ 0, 0 ], 'of a missing key' );
            $redis->del($k)->get;
        };

        subtest 'SPOP, SRANDMEMBER' => sub {
            my $k   = "$base:random";
            my @all = map { "m$_" } 1 .. 10;
            $redis->sadd( $k, @all )->get;
            my %all = map { $_ => 1 } @all;

            my $one = $redis->srandmember($k)->get;
            ok( $all{$one}, "SRANDMEMBER: a member ($one)" );
            my $three = $redis->srandmember( $k, 3 )->get;
            is( scalar @$three,                                  3, 'SRANDMEMBER 3: three' );
            is( scalar( keys %{ { map { $_ => 1 } @$three } } ), 3, '... distinct' );
            ok( !( grep { !$all{$_} } @$three ), '... members' );
            is(
                sorted( $redis->srandmember( $k, 20 )->get ),
                [ sort @all ],
                'a COUNT past the size: each member once'
            );
            my $rep = $redis->srandmember( $k, -25 )->get;
            is( scalar @$rep, 25, 'a negative COUNT: that many, repeats allowed' );
            ok( !( grep { !$all{$_} } @$rep ), '... all members' );
            is( $redis->scard($k)->get, 10, 'SRANDMEMBER removes nothing' );

            my $popped = $redis->spop($k)->get;
            ok( $all{$popped}, "SPOP: a member ($popped)" );
            is( $redis->sismember( $k, $popped )->get, 0, '... removed' );
            my $four = $redis->spop( $k, 4 )->get;
            is( scalar @$four,                         4,              'SPOP 4: four' );
            is( $redis->smismember( $k, @$four )->get, [ 0, 0, 0, 0 ], '... all removed' );
            is( $redis->scard($k)->get,                5,              'five left' );
            my $rest = $redis->spop( $k, 100 )->get;
            is(
                sorted( [ $popped, @$four, @$rest ] ),
                [ sort @all ],
                'every member popped exactly once'
            );
            is( $redis->exists($k)->get,      0,     'the empty set is gone' );
            is( $redis->spop($k)->get,        undef, 'SPOP of a missing key: undef' );
            is( $redis->spop( $k, 2 )->get,   [],    'SPOP 2 of a missing key: []' );
            is( $redis->srandmember($k)->get, undef, 'SRANDMEMBER of a missing key: undef' );
        };

        subtest 'SMOVE' => sub {
            my ( $src, $dst ) = ( "$base:move:src", "$base:move:dst" );
            $redis->sadd( $src, qw(a b) )->get;
            $redis->sadd( $dst, qw(b) )->get;
            is( $redis->smove( $src, $dst, 'a' )->get, 1, 'SMOVE: 1' );
            is( $redis->smove( $src, $dst, 'z' )->get, 0, 'SMOVE of a non-member: 0' );
            is( $redis->smove( $src, $dst, 'b' )->get, 1, 'SMOVE of a member both have: 1' );
            is( $redis->exists($src)->get,             0, 'the source emptied and gone' );
            is( sorted( $redis->smembers($dst)->get ), [qw(a b)], 'the destination' );
            $redis->del($dst)->get;
        };

        subtest 'SINTER, SUNION, SDIFF and STORE, SINTERCARD' => sub {
            my ( $k1, $k2, $k3, $out ) = map { "$base:algebra:$_" } qw(1 2 3 out);
            $redis->sadd( $k1, qw(a b c d) )->get;
            $redis->sadd( $k2, qw(c d e) )->get;
            $redis->sadd( $k3, qw(a c e) )->get;
            is( sorted( $redis->sinter( $k1, $k2 )->get ),           [qw(c d)], 'SINTER' );
            is( sorted( $redis->sinter( $k1, $k2, $k3 )->get ),      ['c'],     'SINTER of three' );
            is( $redis->sinter( $k1, "$base:algebra:missing" )->get, [], 'with a missing key' );
            is( sorted( $redis->sunion( $k1, $k2 )->get ),     [qw(a b c d e)], 'SUNION' );
            is( sorted( $redis->sdiff( $k1, $k2 )->get ),      [qw(a b)],       'SDIFF' );
            is( sorted( $redis->sdiff( $k1, $k2, $k3 )->get ), ['b'],           'SDIFF of three' );

            is( $redis->sinterstore( $out, $k1, $k2 )->get, 2,         'SINTERSTORE: the size' );
            is( sorted( $redis->smembers($out)->get ),      [qw(c d)], '... stored' );
            is( $redis->sunionstore( $out, $k2, $k3 )->get, 4,         'SUNIONSTORE replaces' );
            is( sorted( $redis->smembers($out)->get ),      [qw(a c d e)], '... stored' );
            is( $redis->sdiffstore( $out, $k1, $k3 )->get,  2,             'SDIFFSTORE' );
            is( sorted( $redis->smembers($out)->get ),      [qw(b d)],     '... stored' );
            is( $redis->sdiffstore( $out, $k1, $k1 )->get,  0,             'an empty result' );
            is( $redis->exists($out)->get,                  0, '... deletes the destination' );

            is( $redis->sintercard( 2, $k1, $k2 )->get, 2, 'SINTERCARD' );
            is( $redis->sintercard( 3, $k1, $k2,     $k3 )->get, 1, 'SINTERCARD of three' );
            is( $redis->sintercard( 1, $k1, 'LIMIT', 3 )->get,   3, 'LIMIT caps the count' );
            is( $redis->sintercard( 1, $k1, 'LIMIT', 0 )->get,   4, 'LIMIT 0: no cap' );
            is( $redis->sintercard( 2, $k1, "$base:algebra:missing" )->get,
                0, 'with a missing key: 0' );
            FIORTest::redis_error_ok(
                $redis, $redis->sintercard( 3, $k1, $k2 ),
                'ERR',  'SINTERCARD with too few keys'
            );
            is( $redis->del( $k1, $k2, $k3 )->get, 3, 'DEL' );
        };

        subtest 'SSCAN' => sub {
            my $k   = "$base:scan";
            my @all = map { "member:$_" } 1 .. 1000;
            is( $redis->sadd( $k, @all )->get, 1000, 'SADD 1000 members' );
            my ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->sscan( $k, $cursor, 'COUNT', 100 )->get;
                is( scalar @$reply, 2, 'SSCAN: [cursor, members]' ) unless $rounds;
                ( $cursor, my $members ) = @$reply;
                $seen{$_}++ for @$members;
            } while ( $cursor ne '0' && ++$rounds < 100_000 );
            is( [ sort keys %seen ], [ sort @all ], 'SSCAN visits every member' );

            ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->sscan( $k, $cursor, 'MATCH', 'member:99?', 'COUNT', 100 )->get;
                ( $cursor, my $members ) = @$reply;
                $seen{$_}++ for @$members;
            } while ( $cursor ne '0' && ++$rounds < 100_000 );
            is( [ sort keys %seen ], [ map { "member:$_" } 990 .. 999 ], 'SSCAN MATCH' );
            $redis->del($k)->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->sadd( $s, 'm' ),
                'WRONGTYPE', 'SADD to a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->smembers($s),
                'WRONGTYPE', 'SMEMBERS of a string' );
            FIORTest::redis_error_ok( $redis, $redis->sintercard( 1, $s ),
                'WRONGTYPE', 'SINTERCARD of a string' );
            is( $redis->get($s)->get,                'v', 'the string is untouched' );
            is( $redis->sadd( "$s:set", 'ok' )->get, 1,   'set commands still work' );
            $redis->del( $s, "$s:set" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
