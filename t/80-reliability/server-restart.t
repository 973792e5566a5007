# The server goes away and comes back: with reconnect, commands issued
# during the outage wait and then succeed; when the attempts run out they
# fail with Disconnected, and a later command starts a new round.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORServer;
use IO::Socket::INET;
use Time::HiRes ();

my $loop   = IO::Async::Loop->new;
my $server = FIORServer->new;

subtest 'outage shorter than the retries' => sub {
    my @events;
    my $redis = Future::IO::Redis->new(
        host                   => '127.0.0.1',
        port                   => $server->port,
        reconnect              => 1,
        reconnect_delay        => 0.05,
        reconnect_delay_max    => 0.2,
        reconnect_max_attempts => 0,
        request_timeout        => 10,
        on_connect             => sub { push @events, 'connect' },
        on_disconnect          => sub { push @events, 'disconnect' },
    );
    $redis->connect->get;
    $server->stop;
    $loop->delay_future( after => 0.02 )->get until !$redis->is_connected;
    my $during = $redis->command( 'ECHO', 'during the outage' );
    $loop->delay_future( after => 0.3 )->get;
    ok( !$during->is_ready, 'waits while the server is down' );
    $server->start;
    is( $loop->await($during)->get, 'during the outage', 'succeeds once the server is back' );
    is( \@events,                   [qw(connect disconnect connect)], 'events' );
    $redis->disconnect;
};

subtest 'attempts exhausted' => sub {
    my $errors = 0;
    my $redis  = Future::IO::Redis->new(
        host                   => '127.0.0.1',
        port                   => $server->port,
        reconnect              => 1,
        reconnect_delay        => 0.2,
        reconnect_jitter       => 0,
        reconnect_max_attempts => 3,
        on_error               => sub { $errors++ },
    );
    $redis->connect->get;
    $server->stop;

    # Issued once the drop is seen (not on the dying connection, where it
    # would fail as in flight), well inside the 0.2 + 0.4 + 0.8 s of retries.
    $loop->delay_future( after => 0.01 )->get while $redis->is_connected;
    my $f = $redis->command( 'ECHO', 'never' );
    $loop->await( Future->wait_any( $f, $loop->delay_future( after => 10 ) ) );
    ok( $f->is_failed, 'the waiting command failed' );
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Disconnected' );
    is( $errors, 4, 'on_error: the drop, then each of the 3 attempts' );

    $server->start;
    is( $redis->command( 'ECHO', 'again' )->get, 'again', 'a later command starts a new round' );
    ok( $redis->is_connected, 'connected' );
    $redis->disconnect;
};

subtest 'connect to a server that is not there' => sub {
    $server->stop;
    my $redis = Future::IO::Redis->new( host => '127.0.0.1', port => $server->port );
    my $f     = $redis->connect;
    $loop->await($f);
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Connection' );
    is( $f->failure->port,   $server->port, 'error names the port' );
    is( $f->failure->reason, 'refused',     'reason in a word' );
    is( $f->failure->path,   undef,         'no unix path' );
    ok( !$redis->is_connected, 'not connected' );
    $server->start;
    is( $redis->connect->get->ping->get, 'PONG', 'connect works once it is up' );
    $redis->disconnect;
};

subtest 'a server that refuses us says why' => sub {

    # Regression: "max number of clients reached" arrived during the
    # handshake, but the client reported a bare EOF.
    my $full = FIORServer->new( args => [ '--maxclients', '1' ] );
    my $hold = IO::Socket::INET->new( PeerAddr => '127.0.0.1', PeerPort => $full->port ) or die $!;
    syswrite( $hold, "PING\r\n" );
    sysread( $hold, my $pong, 64 );
    for my $protocol ( 2, 3 ) {
        my $redis = Future::IO::Redis->new(
            host     => '127.0.0.1',
            port     => $full->port,
            protocol => $protocol
        );
        my $f = $redis->connect;
        $loop->await($f);
        isa_ok( $f->failure, 'Future::IO::Redis::Error::Redis' );
        like(
            "" . ( $f->failure // '' ),
            qr/max number of clients/,
            "RESP$protocol: the server's reason"
        );
    }
    $full->stop;
};

subtest 'a late "connected" after disconnect does not make the client look connected' => sub {

    # Regression: the event of a connect that finished before disconnect()
    # was applied after it, so a failing reconnect still showed connected.
    my $redis = Future::IO::Redis->new( host => '127.0.0.1', port => $server->port );
    my $first = $redis->connect;
    Time::HiRes::sleep(0.3);    # the core finishes; the loop has not run yet
    $redis->disconnect;
    $server->stop;
    my $again = $redis->connect;
    $loop->await($again);
    ok( $again->is_failed,     'connecting to the stopped server fails' );
    ok( !$redis->is_connected, 'and the client says so' );
    my $third = $redis->connect;
    $loop->await($third);
    ok( $third->is_failed, 'a further connect really tries (and fails) too' );
    $server->start;
};

subtest 'connect during a reconnect back-off joins the cycle' => sub {

    # Regression: an explicit connect reset the cycle, so one refused
    # attempt failed the waiting commands and stopped reconnecting.
    my $redis = Future::IO::Redis->new(
        host                   => '127.0.0.1',
        port                   => $server->port,
        reconnect              => 1,
        reconnect_delay        => 0.2,
        reconnect_delay_max    => 0.2,
        reconnect_max_attempts => 0,
        request_timeout        => 20,
    );
    $redis->connect->get;
    $server->stop;
    $loop->delay_future( after => 0.02 )->get while $redis->is_connected;
    my $waiting = $redis->command( 'ECHO', 'waited' );
    my $c       = $redis->connect;
    $loop->await($c);
    isa_ok( $c->failure, 'Future::IO::Redis::Error::Connection' );
    ok( !$waiting->is_ready, 'the command waiting for the reconnect keeps waiting' );
    $server->start;
    is( $loop->await($waiting)->get, 'waited', 'and runs once the server is back' );
    ok( $redis->is_connected, 'reconnected by the cycle' );
    $redis->disconnect;
};

$server->stop;
done_testing;
