# connect_timeout covers the whole handshake: a peer that accepts TCP but
# never answers makes connect fail with Error::Timeout, and the loop keeps
# running meanwhile.
use Test2::V0;
use IO::Async::Loop;
use IO::Socket::INET;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;

my $loop = IO::Async::Loop->new;

# The kernel completes the TCP handshake from the backlog; nobody answers.
my $silent = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5 )
    or die "listen: $!";

my @errors;
my $redis = Future::IO::Redis->new(
    host            => '127.0.0.1',
    port            => $silent->sockport,
    connect_timeout => 0.3,
    on_error        => sub { push @errors, $_[1] },
);
my $ticks  = 0;
my $f      = $redis->connect;
my $ticker = $loop->delay_future( after => 0.01 )->on_done( sub { $ticks++ } );
$loop->await( Future->wait_any( $f, $loop->delay_future( after => 10 ) ) );

ok( $f->is_failed, 'connect failed (did not hang)' );
my $err = $f->failure;
isa_ok( $err, 'Future::IO::Redis::Error::Timeout' );
is( $err->command,        'CONNECT', 'names the connect' );
is( $err->timeout,        0.3,       'names the deadline' );
is( $err->maybe_executed, 0,         'nothing was executed' );
ok( $ticks, 'a timer fired while connect waited' );
is( scalar @errors, 1, 'on_error told' );
ok( !$redis->is_connected, 'not connected' );

my $cmd = $redis->ping;
$loop->await( Future->wait_any( $cmd, $loop->delay_future( after => 10 ) ) );
isa_ok( $cmd->failure, 'Future::IO::Redis::Error::Timeout' );
done_testing;
