# A request timeout fails that command with Error::Timeout, and the late
# reply is discarded: the next command on the same client gets its own.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORServer;

my $loop = IO::Async::Loop->new;

# This test stalls its server (DEBUG SLEEP), so it runs its own: a shared
# server would stall the other test files running beside it.
my $server = FIORServer->new;
my $srv    = { host => '127.0.0.1', port => $server->port };
my $key    = 'timeout';

my $redis   = Future::IO::Redis->new( %$srv, request_timeout => 0.2 );
my $staller = Future::IO::Redis->new( %$srv, request_timeout => 0 );
$loop->await( Future->needs_all( $redis->connect, $staller->connect ) )->get;
$redis->set( "$key:1", 'first' )->get;
$redis->set( "$key:2", 'second' )->get;

# DEBUG SLEEP stalls the whole server for a second.
my $stall = $staller->command( 'DEBUG', 'SLEEP', 1 );
$loop->delay_future( after => 0.05 )->get;    # let the stall reach the server

my $late = $redis->get("$key:1");
$loop->await($late);
ok( $late->is_failed, 'GET during the stall failed' );
my $err = $late->failure;
isa_ok( $err, 'Future::IO::Redis::Error::Timeout' );
is( $err->maybe_executed, 1,     'maybe_executed: it was sent' );
is( $err->command,        'GET', 'names the command' );
is( $err->timeout,        0.2,   'names the deadline' );
like( "$err", qr/GET timed out after 0\.2s/, 'message' );

is( $stall->get,                'OK',     'the stall ended' );
is( $redis->get("$key:2")->get, 'second', 'next GET gets its own value, not the late reply' );
is( $redis->get("$key:1")->get, 'first',  'and the one after that too' );
ok( $redis->is_connected, 'connection still usable' );

subtest 'XREAD on a stream called "block" is not a blocking read' => sub {

    # Regression: the word BLOCK anywhere counted as the option, so this
    # had no deadline at all.
    my $stall = $staller->command( 'DEBUG', 'SLEEP', '0.6' );
    $loop->delay_future( after => 0.05 )->get;
    my $read = $redis->command( 'XREAD', 'STREAMS', 'block', '0' );
    $loop->await($read);
    isa_ok( $read->failure, 'Future::IO::Redis::Error::Timeout' );
    is( $read->failure->timeout, 0.2, 'request_timeout applied' );
    $stall->get;
};

subtest 'request_timeout => 0 waits as long as it takes' => sub {
    my $patient = Future::IO::Redis->new( %$srv, request_timeout => 0 );
    is( $patient->command( 'DEBUG', 'SLEEP', '0.3' )->get, 'OK', 'no deadline' );
    $patient->disconnect;
};

subtest 'a cancelled future never receives a reply meant for another' => sub {
    my $f1 = $redis->get("$key:1");
    $f1->cancel;
    is( $redis->get("$key:2")->get, 'second', 'next caller gets its own reply' );
    ok( $f1->is_cancelled, 'cancelled stays cancelled' );
};

$redis->del( "$key:1", "$key:2" )->get;
$redis->disconnect;
$staller->disconnect;
done_testing;
