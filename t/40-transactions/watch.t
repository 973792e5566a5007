# watch_multi(\@keys, async sub { my ($tx, $values) = @_; ... }): the watched
# keys' values reach the callback read by their type (string as is, hash as
# a hash, list in order, set sorted, zset as flat member/score pairs, stream
# as XRANGE gives it, a missing key as undef) under RESP2 and RESP3; a write
# from another client inside the section (also creating a key that was
# missing) makes it resolve to undef with none of its commands run; a retry
# loop converges while another client interferes N times; 5 clients x 20
# increments of one counter through retry loops end at exactly 100; 50
# concurrent watch_multi calls (and 10 multi calls) on one client each get
# their own results, none undef, since the client's own sections never
# overlap; a die in the callback fails the future with that error, lifts the
# WATCH (a later transaction on the connection runs although the key
# changed) and leaves the client usable.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;

alarm 180;    # a hang (a section that never ends) fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('watch');

# A second client: writes watched keys and looks at the server.
my $other = Future::IO::Redis->new(%$srv);
$other->connect->get;

for my $protocol ( 2, 3 ) {
    subtest "values by type, RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        my %k = map { $_ => "$base:type$protocol:$_" } qw(str hash list set zset stream missing);
        $redis->set( $k{str}, "bytes\0here" )->get;
        $redis->hset( $k{hash}, a => 1, b => 'two' )->get;
        $redis->rpush( $k{list}, qw(c a b) )->get;
        $redis->sadd( $k{set}, qw(pear apple fig) )->get;
        $redis->zadd( $k{zset}, 2, 'b', 1.5, 'a' )->get;
        $redis->xadd( $k{stream}, '1-1', f => 'v' )->get;
        $redis->xadd( $k{stream}, '2-1', g => 'w', h => 'x' )->get;

        my $seen;
        my $res = $redis->watch_multi(
            [ @k{qw(str hash list set zset stream missing)} ],
            async sub {
                my ( $tx, $values ) = @_;
                $seen = $values;
                $tx->get( $k{str} )->llen( $k{list} );
            }
        )->get;
        is( $res,      [ "bytes\0here", 3 ], 'the transaction ran' );
        is( ref $seen, 'HASH',               'the values: a hash' );
        my %got = %{ $seen // {} };
        is( delete $got{ $k{missing} }, undef, 'a missing key: undef' );
        is(
            \%got,
            {
                $k{str}    => "bytes\0here",
                $k{hash}   => { a => 1, b => 'two' },
                $k{list}   => [qw(c a b)],
                $k{set}    => [qw(apple fig pear)],
                $k{zset}   => [ 'a', '1.5', 'b', '2' ],
                $k{stream} => [ [ '1-1', [ 'f', 'v' ] ], [ '2-1', [ 'g', 'w', 'h', 'x' ] ] ],
            },
            'string, hash, list, set (sorted), zset (flat pairs), stream'
        );
        $redis->del( values %k )->get;
        $redis->disconnect;
    };
}

my $redis = Future::IO::Redis->new(%$srv);
$redis->connect->get;

subtest 'a write from another client inside the section: undef' => sub {
    my $k = "$base:conflict";
    $redis->set( $k, 'original' )->get;
    my ( $called, $saw ) = (0);
    my $res = $redis->watch_multi(
        [$k],
        async sub {
            my ( $tx, $values ) = @_;
            $called++;
            $saw = $values->{$k};
            await $other->set( $k, 'theirs' );
            $tx->set( $k,        'mine' );
            $tx->set( "$k:side", 1 );
        }
    );
    ok( FIORTest::ready_within($res), 'settled' );
    ok( $res->is_done, 'resolved (not failed)' ) or diag( 'failure: ' . $res->failure );
    is( $res->is_done ? [ $res->get ] : undef, [undef],    'to undef' );
    is( $called,                               1,          'the callback ran once' );
    is( $saw,                                  'original', 'with the value read at WATCH' );
    is( $other->get($k)->get,                  'theirs',   'the transaction did not run' );
    is( $other->exists("$k:side")->get,        0,          '... none of it' );

    my $missing = "$base:conflict:created";
    $res = $redis->watch_multi(
        [$missing],
        async sub {
            my ( $tx, $values ) = @_;
            $saw = $values->{$missing};
            await $other->set( $missing, 'created' );
            $tx->set( $missing, 'mine' );
        }
    )->get;
    is( $saw,                       undef,     'a missing key read as undef' );
    is( $res,                       undef,     'creating it from another client: undef' );
    is( $other->get($missing)->get, 'created', '... the transaction did not run' );

    $res = $redis->watch_multi( [$k], async sub { $_[0]->set( $k, "$_[1]{$k}!" )->get($k) } )->get;
    is( $res, [ 'OK', 'theirs!' ], 'without interference the next one runs' );
    $redis->del( $k, $missing )->get;
};

subtest 'a retry loop converges' => sub {
    my $k = "$base:retry";
    $redis->set( $k, 1 )->get;
    my ( $interfere, $attempts, $res ) = ( 3, 0 );
    my $done = (
        async sub {
            while (1) {
                $attempts++;
                $res = await $redis->watch_multi(
                    [$k],
                    async sub {
                        my ( $tx, $values ) = @_;
                        if ( $interfere > 0 ) {
                            $interfere--;
                            await $other->incr($k);
                        }
                        $tx->set( $k, $values->{$k} * 2 );
                    }
                );
                return $res if defined $res || $attempts >= 20;
            }
        }
    )->();
    ok( FIORTest::ready_within( $done, 20 ), 'settled' );
    is( $res,                 ['OK'], 'the last attempt ran' );
    is( $attempts,            4,      'three aborted attempts, then one that ran' );
    is( $other->get($k)->get, '8',    '1, +1 +1 +1 from the other client, then doubled: 8' );
    $redis->del($k)->get;
};

subtest '5 clients x 20 increments of one counter' => sub {
    my $k = "$base:counter";
    $redis->set( $k, 0 )->get;
    my @clients = map { Future::IO::Redis->new(%$srv) } 1 .. 5;
    $_->connect->get for @clients;
    my ( $aborted, $ran ) = ( 0, 0 );
    my $worker = async sub {
        my ($c) = @_;
        for my $n ( 1 .. 20 ) {
            while (1) {
                my $res = await $c->watch_multi(
                    [$k],
                    async sub {
                        my ( $tx, $values ) = @_;
                        await $c->ping;    # a wider window for the others to write
                        $tx->set( $k, ( $values->{$k} // 0 ) + 1 );
                    }
                );
                if ( defined $res ) { $ran++; last }
                $aborted++;
                die "too many aborted attempts\n" if $aborted > 10_000;
            }
        }
        return 1;
    };
    my $all = Future->needs_all( map { $worker->($_) } @clients );
    ok( FIORTest::ready_within( $all, 25 ), 'all settled' );
    ok( $all->is_done, 'no worker failed' ) or diag( 'failure: ' . $all->failure );
    is( $ran,                 100,   '100 transactions ran' );
    is( $other->get($k)->get, '100', 'the counter is exactly 100: no lost update' );
    ok( $aborted > 0, "the clients did collide ($aborted attempts aborted and were retried)" );
    $_->disconnect for @clients;
    $redis->del($k)->get;
};

subtest '50 concurrent watch_multi calls on one client' => sub {
    my @keys = map { "$base:many:$_" } 1 .. 50;
    my @side = map { "$base:many:side:$_" } 1 .. 10;
    $redis->mset( map { ( $keys[ $_ - 1 ], $_ ) } 1 .. 50 )->get;
    my ( %seen, @watched, @plain );
    for my $i ( 1 .. 50 ) {
        my $k = $keys[ $i - 1 ];
        push @watched, $redis->watch_multi(
            [$k],
            async sub {
                my ( $tx, $values ) = @_;
                $seen{$i} = $values;

                # Sections take different times.
                if    ( $i % 3 == 0 ) { await $loop->delay_future( after => 0.002 ) }
                elsif ( $i % 3 == 1 ) { await $redis->get($k) }
                $tx->incrby( $k, 1000 )->get($k);
            }
        );
        if ( $i % 5 == 0 ) {
            my $s = $side[ $i / 5 - 1 ];
            push @plain, $redis->multi( async sub { $_[0]->set( $s, $i )->incr($s) } );
        }
    }
    ok( FIORTest::ready_within( Future->wait_all( @watched, @plain ), 20 ), 'all settled' );
    is(
        [ map { $_->is_done ? $_->get : 'failed: ' . $_->failure } @watched ],
        [ map { [ $_ + 1000, $_ + 1000 ] } 1 .. 50 ],
        'each got its own EXEC results (none undef)'
    );
    is(
        \%seen,
        { map { ( $_ => { $keys[ $_ - 1 ] => $_ } ) } 1 .. 50 },
        'each callback got its own key\'s value'
    );
    is(
        [ map { $_->is_done ? $_->get : 'failed: ' . $_->failure } @plain ],
        [ map { [ 'OK', $_ * 5 + 1 ] } 1 .. 10 ],
        'multi calls in between: their own results'
    );
    is( $other->mget(@keys)->get, [ map { $_ + 1000 } 1 .. 50 ], 'on the server' );
    $redis->del( @keys, @side )->get;
};

subtest 'a die in the callback' => sub {
    my $k    = "$base:die";
    my $boom = bless {}, 'FIORTest::Boom';
    $redis->set( $k, 'v0' )->get;
    my $f = $redis->watch_multi(
        [$k],
        async sub {
            my ( $tx, $values ) = @_;
            $tx->set( $k, 'never' );
            die $boom;
        }
    );
    my $err = FIORTest::failure_of($f);
    ok( ref $err && refaddr $err == refaddr $boom, 'fails with the very object died with' )
        or diag( 'failure: ' . ( $err // 'none' ) );
    is( $redis->get($k)->get, 'v0', 'nothing of the transaction ran' );
    ok( !$redis->watching, 'not watching' );

    # A WATCH left behind would make the next EXEC on this connection abort.
    $other->set( $k, 'changed' )->get;
    is(
        $redis->multi( async sub { $_[0]->set( $k, 'later' )->get($k) } )->get,
        [ 'OK', 'later' ],
        'a later transaction runs although the key changed: UNWATCH was sent'
    );

    $f = $redis->watch_multi(
        [$k],
        async sub {
            my ( $tx, $values ) = @_;
            await $redis->ping;
            die "boom: $values->{$k}\n";
        }
    );
    is( FIORTest::failure_of($f), "boom: later\n", 'a die after an await: that error' );
    $other->set( $k, 'changed again' )->get;
    is( $redis->watch_multi( [$k], async sub { $_[0]->get($k) } )->get,
        ['changed again'], 'a later watch_multi works' );
    is( $redis->ping->get, 'PONG', 'the client is usable' );
    $redis->del($k)->get;
};

is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
$redis->disconnect;
$other->disconnect;
done_testing;
