# Blocking commands wait their own timeout plus blocking_timeout_buffer,
# not request_timeout; a server-side timeout resolves to undef; a blocking
# command on one client never delays another client.
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
my $key    = 'blocking';

my $blocker = Future::IO::Redis->new( %$srv, request_timeout => 0.2 );
my $other   = Future::IO::Redis->new( %$srv, request_timeout => 0.2 );
$loop->await( Future->needs_all( $blocker->connect, $other->connect ) )->get;

my $blpop = $blocker->command( 'BLPOP', "$key:empty", '0.6' );
is( $other->ping->get, 'PONG', 'another client answers while BLPOP waits' );
ok( !$blpop->is_ready, 'BLPOP still waiting after the other client was served' );
is( $loop->await($blpop)->get, undef, 'server-side timeout resolves to undef, no client timeout' );

subtest 'a blocking pop gets its value' => sub {
    my $pop = $blocker->command( 'BRPOP', "$key:list", 0 );
    $other->command( 'LPUSH', "$key:list", 'item' )->get;
    is( $loop->await($pop)->get, [ "$key:list", 'item' ],
        'BRPOP with timeout 0 waits and gets it' );
};

subtest 'XREAD BLOCK uses milliseconds' => sub {
    my $read = $blocker->command( 'XREAD', 'BLOCK', 400, 'STREAMS', "$key:stream", '$' );
    is( $loop->await($read)->get, undef, 'timed out server-side after 400ms' );
};

subtest 'the buffer bounds a blocking command' => sub {
    my $tight   = Future::IO::Redis->new( %$srv, blocking_timeout_buffer => 0.2 );
    my $staller = Future::IO::Redis->new( %$srv, request_timeout         => 0 );
    $loop->await( Future->needs_all( $tight->connect, $staller->connect ) )->get;

    # Stall the server so BLPOP 0.1 cannot be answered within 0.1 + 0.2 s.
    my $stall = $staller->command( 'DEBUG', 'SLEEP', '0.8' );
    my $f     = $tight->command( 'BLPOP', "$key:empty", '0.1' );
    $loop->await($f);
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Timeout' );
    is( $f->failure->timeout, 0.3,  'deadline is the server timeout plus the buffer' );
    is( $stall->get,          'OK', 'stall over' );
    $_->disconnect for $tight, $staller;
};

$blocker->disconnect;
$other->disconnect;
done_testing;
