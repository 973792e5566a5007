# One connection that never stops being readable (a server pushing without
# end) must not starve the other clients, its own writes, or the timers:
# they all share one runtime thread. (Regression: reads always went first,
# in a task that never yielded; other clients froze until the flood ended.)
use Test2::V0;
use IO::Async::Loop;
use IO::Socket::INET;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use POSIX       ();
use Time::HiRes qw(time);
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A fake server: answers the handshake with +OK per command, then floods
# RESP3 push messages for up to FLOOD seconds, noting any command it reads.
use constant FLOOD => 15;
my $listener = IO::Socket::INET->new( LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5 )
    or die "listen: $!";
pipe( my $from_fake, my $to_parent ) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ( !$pid ) {
    close $from_fake;
    my $client = $listener->accept or POSIX::_exit(1);
    $client->blocking(0);
    my $in    = '';
    my $until = time + 2;
    while ( time < $until ) {    # the handshake: one +OK per command
        sysread( $client, $in, 65536, length $in );
        my $commands = () = $in =~ /^\*\d+\r\n/mg;
        if ( $commands >= 2 && $in =~ /SETINFO.*SETINFO.*\r\n\z/s ) {
            syswrite( $client, "+OK\r\n" x $commands );
            last;
        }
        select( undef, undef, undef, 0.005 );
    }
    $in = '';
    my $push = ">2\r\n\$7\r\nmessage\r\n\$4\r\nspam\r\n" x 500;
    my $stop = time + FLOOD;
    my $told;

    # Blocking writes of large chunks keep the socket readable for the
    # client all the time; peek for its PING between chunks.
    $client->blocking(1);
    my $chunk = $push x 500;
    while ( time < $stop ) {
        syswrite( $client, $chunk ) or last;
        my $readable = '';
        vec( $readable, fileno $client, 1 ) = 1;
        if ( !$told && select( $readable, undef, undef, 0 ) ) {
            sysread( $client, $in, 65536, length $in );
            if ( $in =~ /PING/ ) {
                syswrite( $to_parent, sprintf "%.3f\n", time );
                $told = 1;
            }
        }
    }
    POSIX::_exit(0);
}
close $to_parent;

my $flooded = Future::IO::Redis->new(
    host            => '127.0.0.1',
    port            => $listener->sockport,
    protocol        => 3,
    request_timeout => 1,
);
$flooded->connect->get;
my $other = Future::IO::Redis->new(%$srv);
$other->connect->get;

my $t0       = time;
my $own_ping = $flooded->ping;    # the fake never answers it
my @pings;
for ( 1 .. 5 ) {
    push @pings, $other->ping->get;
    $loop->delay_future( after => 0.1 )->get;
}
my $elapsed = time - $t0;
is( \@pings, [ ('PONG') x 5 ], 'another client is served while the flood goes on' );
ok( $elapsed < FLOOD - 2, sprintf 'well before the flood ends (%.1fs)', $elapsed );
$loop->await($own_ping);
isa_ok( $own_ping->failure, 'Future::IO::Redis::Error::Timeout' );    # the timer ran
my $saw = <$from_fake>;
ok( $saw, 'the flooded connection still wrote its own command' );

kill 'KILL', $pid;
waitpid $pid, 0;
$flooded->disconnect;
$other->disconnect;
done_testing;
