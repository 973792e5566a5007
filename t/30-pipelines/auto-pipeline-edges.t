# Edges of auto-pipelining (auto_pipeline => 1), each a bug that once was:
# after fork the child's commands work (ECHO answers, the child exits 0)
# while a command the parent issued before fork and had not sent yet fails
# in the child with Error::Disconnected (reason fork), and the parent keeps
# working (that command runs there); an argument object whose "" overload
# dies makes the call die in the caller, not in the event loop, and the other
# commands of the same tick still get their replies; a bad-argument command's
# failure callback that issues a pipeline does not overtake commands issued
# earlier in the tick (the pipeline's GET sees the earlier SET).
use Test2::V0;
use IO::Async::Loop;
use POSIX ();
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

alarm 120;    # a hang (a command never answered) fails the file instead

# Its stringification dies.
package FIORTest::Unprintable {
    use overload '""' => sub { die "no string for you\n" };
    sub new { bless {}, shift }
}

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('autoedge');

# Seeds and checks the keyspace: no auto-pipelining.
my $plain = Future::IO::Redis->new(%$srv);
$plain->connect->get;

# Waits (running the loop) at most $secs for $f; true when it is ready.
sub settled {
    my ( $f, $secs ) = @_;
    $loop->await(
        Future->wait_any( $f->without_cancel, $loop->delay_future( after => $secs // 10 ) ) );
    return $f->is_ready;
}

# What a future gave, comparable: its (first) value, or 'failed: ...' or
# 'pending'.
sub outcome {
    my ($f) = @_;
    return 'pending' unless $f->is_ready;
    return 'failed: ' . $f->failure if $f->is_failed;
    return scalar $f->get;
}

sub auto_client {
    my $redis = Future::IO::Redis->new( %$srv, auto_pipeline => 1 );
    $redis->connect->get;
    return $redis;
}

subtest 'fork' => sub {
    my $redis = auto_client();
    my $k     = "$base:fork";
    is( $redis->echo('warm')->get, 'warm', 'the parent\'s client works' );
    my $queued = $redis->set( $k, 'parent' );    # issued, not sent before the fork
    pipe( my $from_child, my $to_parent ) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {

        # The child: no assertions here, it reports through the pipe.
        close $from_child;
        alarm 30;
        my $echo = $redis->echo('child');
        settled( $echo,   10 );
        settled( $queued, 10 );
        my $error  = $queued->is_failed                  ? $queued->failure : undef;
        my $why    = ref $error && $error->can('reason') ? $error->reason   : undef;
        my %report = (
            echo   => outcome($echo),
            queued => ref $error
            ? ref($error) . ' (' . ( $why // 'no reason' ) . ')'
            : outcome($queued),
        );
        print {$to_parent} map { "$_=$report{$_}\n" } sort keys %report;
        close $to_parent;
        POSIX::_exit( $report{echo} eq 'child' ? 0 : 1 );
    }
    close $to_parent;
    my %report = map { chomp; split /=/, $_, 2 } <$from_child>;
    close $from_child;
    waitpid $pid, 0;
    is( $? >> 8,       0,       'the child exited 0 (its ECHO was answered)' );
    is( $report{echo}, 'child', 'in the child, its own ECHO gave its value' );
    is(
        $report{queued},
        'Future::IO::Redis::Error::Disconnected (fork)',
        'in the child, the parent\'s unsent command failed with Error::Disconnected, reason fork'
    );

    ok( settled($queued), 'in the parent, that command settled' );
    is( outcome($queued),           'OK',     '... and ran' );
    is( $plain->get($k)->get,       'parent', '... its value is there' );
    is( $redis->echo('after')->get, 'after',  'the parent keeps working' );
    $plain->del($k)->get;
    $redis->disconnect;
};

subtest 'an argument whose stringification dies' => sub {
    my $redis  = auto_client();
    my $before = $redis->echo('before');
    my $ok     = eval { $redis->echo( FIORTest::Unprintable->new ); 1 };
    my $error  = $@;
    my $after  = $redis->echo('after');
    ok( !$ok, 'the call dies in the caller' );
    like( $error, qr/no string for you/, '... with the overload\'s error' );
    my $loop_ok = eval { settled( Future->wait_all( $before, $after ) ); 1 };
    ok( $loop_ok, 'the event loop did not die' ) or diag("it died: $@");
    is( outcome($before), 'before', 'the command issued before it got its reply' );
    is( outcome($after),  'after',  'the command issued after it got its reply' );
    my $later = $redis->echo('later');
    ok( eval { settled($later); 1 }, 'a later command settled' );
    is( outcome($later), 'later', '... with its reply' );
    $redis->disconnect;
};

subtest 'a failure callback does not overtake earlier commands' => sub {
    my $redis = auto_client();
    my $k     = "$base:order";
    $plain->set( $k, 'X' )->get;
    my $read;
    my $set = $redis->set( $k, 'A' );    # issued first
    my $bad = $redis->echo(undef);       # bad input: fails at the end of the tick
    $bad->on_fail( sub { $read = $redis->pipeline->get($k)->execute } );
    ok( settled($set), 'the SET settled' );
    is( outcome($set), 'OK', '... OK' );
    ok( settled($bad), 'the bad command settled' );
    isa_ok(
        $bad->is_failed ? $bad->failure : undef,
        ['Future::IO::Redis::Error'],
        '... failed with a Future::IO::Redis::Error'
    );
    ok( $read, 'its failure callback issued a pipeline' );
    ok( $read && settled($read), '... which settled' );
    is( $read && outcome($read), ['A'], '... and read the value of the SET issued before' );
    $plain->del($k)->get;
    $redis->disconnect;
};

is( $plain->command( 'KEYS', "$base:*" )->get, [], 'no keys left behind' );
$plain->disconnect;
done_testing;
