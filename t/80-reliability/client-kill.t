# CLIENT KILL with 100 commands in flight: every one settles (none hangs);
# with reconnect the next command succeeds on a new connection that has
# the database and client name restored, and the events fire in order.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $key  = FIORTest::unique_key('kill');

my $killer = Future::IO::Redis->new(%$srv);
$killer->connect->get;

# A BLPOP at the head keeps the other 99 queued behind it on the server,
# so all 100 are in flight when the connection is killed.
sub hundred_in_flight {
    my ($redis) = @_;
    my @f = ( $redis->command( 'BLPOP', "$key:never", 30 ) );
    push @f, map { $redis->command( 'ECHO', "m$_" ) } 2 .. 100;
    return @f;
}

sub kill_client {
    my ($redis) = @_;
    my $id = $redis->command( 'CLIENT', 'ID' )->get;
    return ( $id, sub { $killer->command( 'CLIENT', 'KILL', 'ID', $id )->get } );
}

sub settle_all {
    my @f     = @_;
    my $all   = Future->wait_all(@f);
    my $timer = $loop->delay_future( after => 20 );
    $loop->await( Future->wait_any( $all, $timer ) );
    return $all->is_ready;
}

subtest 'without reconnect' => sub {
    my $redis = Future::IO::Redis->new(%$srv);
    $redis->connect->get;
    my ( $id, $kill ) = kill_client($redis);
    my @f = hundred_in_flight($redis);
    is( $redis->inflight_count, 100, '100 in flight' );
    is( $kill->(),              1,   'killed' );
    ok( settle_all(@f), 'every command settled (none hangs)' );
    my @failures = map { $_->failure } grep { $_->is_failed } @f;
    is( scalar @failures, 100, 'all 100 failed: they may have run, so no silent retry' );
    is(
        [
            grep {
                !(     $_->isa('Future::IO::Redis::Error::Connection')
                    || $_->isa('Future::IO::Redis::Error::Disconnected') )
            } @failures
        ],
        [],
        'each with a connection error'
    );
    $loop->delay_future( after => 0.05 )->get until !$redis->is_connected;
    ok( !$redis->is_connected, 'reports disconnected' );
    my $next = $redis->ping;
    $loop->await($next);
    isa_ok( $next->failure, 'Future::IO::Redis::Error::Disconnected' );
    is( $redis->connect->get->ping->get, 'PONG', 'connect by hand works' );
    $redis->disconnect;
};

subtest 'with reconnect' => sub {
    my @events;
    my $redis = Future::IO::Redis->new(
        %$srv,
        reconnect       => 1,
        reconnect_delay => 0.01,
        database        => 3,
        client_name     => 'killtest',
        on_connect      => sub { push @events, 'connect' },
        on_disconnect   => sub { push @events, "disconnect:$_[1]" },
        on_error        => sub { push @events, 'error:' . ref $_[1] },
    );
    $redis->connect->get;
    $redis->set( "$key:db3", 'in three' )->get;
    my ( $id, $kill ) = kill_client($redis);
    my @f = hundred_in_flight($redis);
    $kill->();
    ok( settle_all(@f), 'every in-flight command settled' );
    is( scalar( grep { $_->is_failed } @f ), 100, 'in-flight commands failed, not retried' );

    is( $redis->get("$key:db3")->get, 'in three', 'next command succeeds, in database 3' );
    my $new_id = $redis->command( 'CLIENT', 'ID' )->get;
    isnt( $new_id, $id, 'on a new connection' );
    is( $redis->command( 'CLIENT', 'GETNAME' )->get, 'killtest', 'client name restored' );
    like( $redis->command( 'CLIENT', 'INFO' )->get, qr/\bdb=3\b/, 'database restored' );
    is(
        \@events,
        [
            'connect',                                    'disconnect:connection_lost',
            'error:Future::IO::Redis::Error::Connection', 'connect',
        ],
        'events in order'
    );
    ok( $redis->is_connected, 'connected again' );
    $redis->del("$key:db3")->get;
    $redis->disconnect;
};

subtest 'commands issued during the outage wait for the new connection' => sub {
    my $redis = Future::IO::Redis->new( %$srv, reconnect => 1, reconnect_delay => 0.2 );
    $redis->connect->get;
    my ( $id, $kill ) = kill_client($redis);
    $kill->();
    $loop->delay_future( after => 0.02 )->get until !$redis->is_connected;
    my @f = map { $redis->command( 'ECHO', "after-$_" ) } 1 .. 50;
    is(
        [ $loop->await( Future->needs_all(@f) )->get ],
        [ map { "after-$_" } 1 .. 50 ],
        'queued commands ran in order on the new connection'
    );
    $redis->disconnect;
};

subtest 'killed in the middle of a large write: perl survives (SIGPIPE)' => sub {
    my $redis = Future::IO::Redis->new( %$srv, request_timeout => 20 );
    $redis->connect->get;
    my ( $id, $kill ) = kill_client($redis);
    my $big = 'x' x ( 32 * 1024 * 1024 );
    my @f   = map { $redis->set( "$key:big:$_", $big ) } 1 .. 4;
    $kill->();
    ok( settle_all(@f), 'the large writes settled' );
    ok( 1,              'still alive after the connection died under a write' );
    $redis->disconnect;
    $killer->del( map { "$key:big:$_" } 1 .. 4 )->get;
};

subtest 'commands waiting on a first connect get its error' => sub {
    my $nowhere = Future::IO::Redis->new( host => '127.0.0.1', port => 1, connect_timeout => 2 );
    my $f       = $nowhere->ping;
    $loop->await($f);
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Connection' );
    like( $f->failure->message, qr/127\.0\.0\.1:1/, 'names where it tried' );
};

$killer->disconnect;
done_testing;
