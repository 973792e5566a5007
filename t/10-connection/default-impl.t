# Without any event loop loaded, Future::IO's built-in implementation runs
# the client: ->get waits on the core's wake-up descriptor.
use Test2::V0;
use Future::IO::Redis;
use POSIX ();
use Future::IO;
use lib 't/lib';
use FIORTest;

my $redis = Future::IO::Redis->new( %{ FIORTest::server('plain') } );
my $key   = FIORTest::unique_key('default');

my $f = $redis->ping;
isa_ok( $f, 'Future' );
is( $f->get,                       'PONG', 'ping through the default implementation' );
is( $redis->set( $key, 'v' )->get, 'OK',   'set' );
is( [ map { $_->get } map { $redis->incr("$key:n") } 1 .. 5 ], [ 1 .. 5 ], 'several in flight' );
is( $redis->command( 'BLPOP', "$key:nothing", '0.05' )->get,   undef,      'a slow reply' );

# Fork under the generic wake-up path (a pending Future::IO->sysread).
pipe( my $from_child, my $to_child ) or die "pipe: $!";
my $pid = fork // die "fork: $!";
if ( !$pid ) {
    close $from_child;
    print {$to_child} eval { $redis->get($key)->get } // "ERROR: $@";
    close $to_child;
    POSIX::_exit(0);
}
close $to_child;
is( $redis->incr("$key:n")->get,    6,   'parent keeps working while the child runs' );
is( do { local $/; <$from_child> }, 'v', 'child read through its own connection' );
waitpid $pid, 0;
is( $redis->incr("$key:n")->get, 7, 'parent still fine after the child exited' );

subtest 'a forked child that uses Future::IO never takes the parent\'s wake-ups' => sub {

    # Regression: a read kept pending on the wake-up descriptor ran in the
    # child's loop and consumed the parent's wake-up; the parent stalled.
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        Future::IO->sleep(0.01)->get for 1 .. 100;
        POSIX::_exit(0);
    }
    my $answered = 0;
    for my $i ( 1 .. 300 ) {
        my $f = $redis->command( 'ECHO', "x$i" );
        my $w = Future->wait_any( $f,
            Future::IO->sleep(10)->then( sub { Future->fail("stalled\n") } ) );
        last unless eval { $w->get eq "x$i" };
        $answered++;
    }
    waitpid $pid, 0;
    is( $answered, 300, 'every command answered while the child ran its own loop' );
};

subtest 'waiting does not spin' => sub {
    my @before = times;
    is( $redis->command( 'BLPOP', "$key:nothing", 1 )->get, undef,
        'a one-second server-side wait' );
    my @after = times;
    my $cpu   = ( $after[0] - $before[0] ) + ( $after[1] - $before[1] );
    ok( $cpu < 0.5, "the process slept rather than spun (CPU ${cpu}s)" );
};

is( $redis->del( $key, "$key:n" )->get, 2, 'cleanup' );
$redis->disconnect;
done_testing;
