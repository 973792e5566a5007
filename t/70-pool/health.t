# Keeping a Future::IO::Redis::Pool's connections healthy: idle connections
# beyond min are closed once idle longer than idle_timeout (the server's
# count of the pool's client_name goes down to min, and stays there), with
# no timer left once nothing is left to close; idle_timeout 0 keeps them;
# an idle connection killed server-side (CLIENT KILL of this pool's own
# connection, by id) is destroyed and replaced on the next acquire, both
# when the client has seen the drop and when it has not yet (then the PING
# of a connection idle longer than a second finds out); a healthy idle
# connection passes that PING and is reused.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $mon  = Future::IO::Redis->new(%$srv);    # looks at the server
$mon->connect->get;

my $names = 0;
sub unique_name { "fior-pool-health-$$-" . ++$names }

sub server_count { scalar keys %{ FIORTest::clients_named( $mon, $_[0] ) } }

sub id_of { $_[0]->command( 'CLIENT', 'ID' )->get }

sub pause { $loop->delay_future( after => $_[0] )->get }

subtest 'idle_timeout closes idle connections beyond min' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name  => $name,
        min          => 1,
        max          => 4,
        idle_timeout => 0.3,
    );
    my @conns = map { $_->get } map { $pool->acquire } 1 .. 4;
    is( server_count($name), 4, 'four connections on the server' );
    $pool->release($_) for @conns;
    is( $pool->stats->{idle}, 4, 'all four idle' );
    ok( $pool->{_reaper}, 'one timer armed' );

    ok( FIORTest::eventually( sub { server_count($name) == 1 } ), 'server side: down to min' );
    is(
        $pool->stats,
        { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
        'stats: one idle (closing idle ones is not destroying broken ones)'
    );
    ok( !$pool->{_reaper}, 'no timer left' );
    pause(0.6);
    is( server_count($name),  1, 'never below min' );
    is( $pool->stats->{idle}, 1, 'still one idle' );

    my $kept = ( grep { $_->is_connected } @conns );
    is( $kept, 1, 'the other clients were closed' );

    # Used again before the timeout: kept.
    @conns = map { $_->get } map { $pool->acquire } 1 .. 3;
    $pool->release($_) for @conns;
    pause(0.1);
    my $again = $pool->acquire->get;    # the one released last
    $pool->release($again);
    ok( FIORTest::eventually( sub { $pool->stats->{idle} == 1 } ), 'the surplus closed again' );
    is( server_count($name), 1, 'server side too' );
    ok( $again->is_connected, 'the most recently used one is kept' );
    $pool->shutdown;
};

subtest 'idle_timeout 0 keeps idle connections' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name  => $name,
        min          => 0,
        max          => 3,
        idle_timeout => 0,
    );
    my @conns = map { $_->get } map { $pool->acquire } 1 .. 3;
    $pool->release($_) for @conns;
    ok( !$pool->{_reaper}, 'no timer' );
    pause(0.3);
    is( server_count($name), 3, 'all three still open' );
    $pool->shutdown;
};

subtest 'a connection killed server-side, the client has seen it' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 1, max => 1 );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    $pool->release($r);
    like( $r->command( 'CLIENT', 'INFO' )->get, qr/name=\Q$name\E/, 'it is our pool\'s' );
    is( $mon->command( 'CLIENT', 'KILL', 'ID', $id )->get, 1, 'killed it' );
    ok( FIORTest::eventually( sub { !$r->is_connected } ), 'the client saw the drop' );

    my $next = $pool->acquire->get;
    ok( $next != $r,         'a new client' );
    ok( $next->is_connected, 'connected' );
    isnt( id_of($next), $id, 'a new server connection' );
    is( $pool->stats->{destroyed}, 1, 'the dead one destroyed' );
    $pool->release($next);
    $pool->shutdown;
};

subtest 'a connection killed server-side, found by the PING' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 1, max => 1 );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    $pool->release($r);
    pause( Future::IO::Redis::Pool::PING_AFTER + 0.2 );    # idle long enough to be checked

    # redis-cli blocks the loop: the client cannot hear of the drop before
    # the acquire below.
    is( FIORTest::cli( 'CLIENT', 'KILL', 'ID', $id ), 1, 'killed it (out of band)' );
    ok( $r->is_connected, 'the client does not know yet' );
    my $next = $pool->acquire->get;
    ok( $next != $r, 'a new client' );
    is( $next->ping->get, 'PONG', 'that works' );
    isnt( id_of($next), $id, 'on a new server connection' );
    is( $pool->stats->{destroyed}, 1, 'the dead one destroyed' );
    $pool->release($next);
    $pool->shutdown;
};

subtest 'a healthy idle connection passes the PING and is reused' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => unique_name(), max => 1 );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    $pool->release($r);
    pause( Future::IO::Redis::Pool::PING_AFTER + 0.2 );
    my $next = $pool->acquire->get;
    ok( $next == $r, 'the same client' );
    is( id_of($next),              $id, 'the same server connection' );
    is( $pool->stats->{destroyed}, 0,   'nothing destroyed' );
    $pool->release($next);
    $pool->shutdown;
};

$mon->disconnect;
done_testing;
