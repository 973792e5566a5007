# Long run with stable memory: commands, error replies, timeouts, clients
# made and dropped, pipelines, transactions (plain and WATCHed), scripts,
# SCAN walks, auto-pipelined ticks, pub/sub rounds, a pool under load,
# reconnects after CLIENT KILL, and an observed client (tracer, meter and
# debug logger, with clients made and dropped). After a warm-up the
# process must not keep growing. Slow: runs under `make xtest` (FIOR_XT=1)
# or with FIOR_SOAK=1.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use lib 't/lib';
use FIORServer;
use FIORTelemetry;

skip_all 'soak test: set FIOR_XT=1 or FIOR_SOAK=1' unless $ENV{FIOR_XT} || $ENV{FIOR_SOAK};
skip_all 'needs /proc'                             unless -r "/proc/$$/status";

my $loop   = IO::Async::Loop->new;
my $server = FIORServer->new;
my %at     = ( host => '127.0.0.1', port => $server->port );
my $rounds = $ENV{FIOR_SOAK_ROUNDS} || 30;

sub rss_kb {
    open my $fh, '<', "/proc/$$/status" or die $!;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
}

my $redis  = Future::IO::Redis->new( %at, reconnect => 1, reconnect_delay => 0.01 );
my $killer = Future::IO::Redis->new(%at);
my $auto   = Future::IO::Redis->new( %at, auto_pipeline => 1 );
my $script = $redis->script(q{return redis.call('INCR', KEYS[1])});
my $pool   = Future::IO::Redis::Pool->new( %at, min => 1, max => 4 );
my $pubsub = Future::IO::Redis->new(%at);
$redis->set( 'soak:str', 'not a number' )->get;

# Observability: objects that keep nothing (what they are given must not
# be kept alive by the client either).
my %observed = (
    otel_tracer => FIORTelemetry::NoopTracer->new,
    otel_meter  => FIORTelemetry::NoopMeter->new,
    debug       => sub { }
);
my $watched = Future::IO::Redis->new( %at, %observed );

sub round {
    my @f = map { $redis->set( "soak:$_", 'x' x 200 ) } 1 .. 1000;
    push @f, map { $redis->get("soak:$_") } 1 .. 1000;
    Future->needs_all(@f)->get;
    $loop->await( $redis->incr('soak:str') ) for 1 .. 100;          # error replies
    my $hasty = Future::IO::Redis->new( %at, request_timeout => 0.02 );
    $loop->await( $hasty->command( 'DEBUG', 'SLEEP', '0.05' ) );    # a timeout
    $loop->delay_future( after => 0.05 )->get;
    $hasty->ping->get;                                              # late reply dropped
    $redis->get('soak:1')->cancel for 1 .. 10;                      # cancelled callers

    my $p = $redis->pipeline;
    $p->get("soak:$_")->hgetall('soak:str') for 1 .. 200;
    $p->execute->get;
    $redis->multi( sub { $_[0]->incr('soak:n')->get('soak:n'); return } )->get;
    $redis->watch_multi( ['soak:n'], sub { $_[0]->set( 'soak:n', 1 ); return } )->get;
    $script->run( ['soak:n'] )->get;
    my $it = $redis->scan_iter( match => 'soak:1*', count => 100 );
    1 while $it->next->get;
    Future->needs_all( map { $auto->get("soak:$_") } 1 .. 500 )->get;

    my $sub = $pubsub->subscribe('soak:ch')->get;
    $redis->publish( 'soak:ch', $_ )->get for 1 .. 50;
    $sub->next->get for 1 .. 50;
    $sub->unsubscribe->get;
    Future->needs_all(
        map {
            $pool->with( sub { $_[0]->get('soak:1') } )
        } 1 .. 40
    )->get;

    Future->needs_all( map { $watched->get("soak:$_") } 1 .. 200 )->get;
    $loop->await( $watched->incr('soak:str') );
    my $wp = $watched->pipeline;
    $wp->incr('soak:w') for 1 .. 20;
    $wp->execute->get;
    $watched->get('soak:1')->cancel for 1 .. 5;
    Future::IO::Redis->new( %at, %observed, otel_meter => FIORTelemetry::NoopMeter->new )
        ->ping->get
        for 1 .. 5;

    for ( 1 .. 20 ) {
        my $c = Future::IO::Redis->new(%at);
        $c->ping->get;
        $c->disconnect if $_ % 2;
    }
    my $id = $redis->command( 'CLIENT', 'ID' )->get;
    $killer->command( 'CLIENT', 'KILL', 'ID', $id )->get;
    $loop->delay_future( after => 0.01 )->get while $redis->is_connected;
    $redis->ping->get;    # waits for the reconnect
}

round() for 1 .. 30;      # warm-up: allocator pools, hash tables, loop structures settle
my $start = rss_kb();
round() for 1 .. $rounds;
my $grown = rss_kb() - $start;
note "RSS after warm-up $start kB, grew $grown kB over $rounds rounds";
ok( $grown < 2048, "memory stable over $rounds rounds (grew $grown kB)" );
is( scalar( keys %Future::IO::Redis::Bridge::PENDING ), 0, 'no pending entries left' );

$redis->disconnect;
$killer->disconnect;
$auto->disconnect;
$pubsub->disconnect;
$watched->disconnect;
$pool->shutdown;
done_testing;
