# Nothing blocks the event loop: a timer keeps firing while 10,000
# commands are in flight.
use Test2::V0;
use IO::Async::Loop;
use IO::Async::Timer::Periodic;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORServer;

my $loop = IO::Async::Loop->new;

# This test stalls its server (DEBUG SLEEP), so it runs its own: a shared
# server would stall the other test files running beside it.
my $server = FIORServer->new;
my $redis  = Future::IO::Redis->new( host => '127.0.0.1', port => $server->port );
my $key    = 'loop';
$redis->connect->get;

my @inflight_at_tick;
my $timer = IO::Async::Timer::Periodic->new(
    interval => 0.001,
    on_tick  => sub { push @inflight_at_tick, $redis->inflight_count },
);
$loop->add($timer);

# The server stalls first, so the replies cannot all arrive before the
# loop gets its first turn.
my @f = (
    $redis->command( 'DEBUG', 'SLEEP', '0.3' ),
    map { $redis->command( 'INCR', $key ) } 1 .. 10_000
);
is( $redis->inflight_count, 10_001, '10,000 commands in flight behind a stall' );
$timer->start;
my @got = $loop->await( Future->needs_all(@f) )->get;
$timer->stop;
$loop->remove($timer);

ok( scalar( grep { $_ > 0 } @inflight_at_tick ), 'the timer fired while commands were in flight' );
is( [ @got[ 0, 1, -1 ] ],   [ 'OK', 1, 10_000 ], 'all answered, in order' );
is( $redis->del($key)->get, 1,                   'cleaned up' );
$redis->disconnect;
done_testing;
