# A fork while 1,000 commands are in flight on one client (a blocking
# command at their head keeps the server from answering them before the
# fork): the parent gets every reply, its own and in order; in the child
# every inherited future still pending fails with Error::Disconnected
# (reason fork, "request was made by the parent process before fork"), none
# gets a reply, not even after the loop ran a while, and the same client
# then works there on a connection of its own (another CLIENT ID). Also:
# half of them answered before the fork (those keep their replies), all
# replies already in the core but not dispatched, a second fork, the first
# use in the child being of another client, auto_pipeline (the fork before
# the tick's commands went out, and after), a pipeline built before the
# fork and executed in the child (and then in the parent), and a fork while
# a pipeline's execute is in flight. Children leave with a plain exit 0, so
# their END blocks and destructors run; the parent's connection must not
# notice (same CLIENT ID, still in CLIENT LIST, INCRs counted once).
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use IO::Handle;
use Time::HiRes ();
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $name = "fior-fork-inflight-$$";
my $N    = 1000;
my @cleanup;

# How the inherited futures ended in the child: those failed with the
# fork's Disconnected error, replies matching (done before the fork),
# anything else.
sub classify {
    my ( $futures, $want ) = @_;
    my %n = ( fork_failed => 0, done_right => 0, pending => 0, other => 0 );
    my %messages;
    for my $i ( 0 .. $#$futures ) {
        my $f = $futures->[$i];
        if    ( !$f->is_ready ) { $n{pending}++ }
        elsif ( $f->is_failed ) {
            my $err = $f->failure;
            if (   ref $err
                && $err->isa('Future::IO::Redis::Error::Disconnected')
                && ( $err->reason // q{} ) eq 'fork' ) {
                $n{fork_failed}++;
                $messages{ $err->message }++;
            }
            else { $n{other}++ }
        }
        elsif ( defined $want && ( $f->get // '' ) eq $want->[$i] ) { $n{done_right}++ }
        else                                                        { $n{other}++ }
    }
    $n{messages} = [ sort keys %messages ];
    return \%n;
}

sub new_client {
    my $redis = Future::IO::Redis->new( %$srv, client_name => $name, request_timeout => 30, @_ );
    $redis->connect->get;
    return ( $redis, $redis->command( 'CLIENT', 'ID' )->get );
}

# The parent's connection after a child has exited: the same one, and the
# server still lists it.
sub parent_intact {
    my ( $redis, $id, $what ) = @_;
    my $ctx = context();
    is( $redis->command( 'CLIENT', 'ID' )->get,        $id, "$what: parent keeps its connection" );
    is( $redis->command( 'ECHO', "after-$what" )->get, "after-$what", "$what: parent still works" );
    like( scalar FIORTest::cli( 'CLIENT', 'LIST', 'ID', $id ),
        qr/(?:^|\s)id=$id\s/, "$what: the server still lists the parent's connection" );
    $ctx->release;
    return;
}

my $FORK_MESSAGE = ['request was made by the parent process before fork'];

# 1,000 INCRs of one key, then fork at once. Options: settled => $k (the
# first $k are issued and answered before the others), blocker => 1 (a
# BLPOP holding the server for 0.3 s before the rest, so none of them is
# answered before the fork), before_fork => $code (runs just before it).
sub fork_while_incrs_in_flight {
    my ( $what, $redis, $parent_id, %opt ) = @_;
    my $key = FIORTest::unique_key('inflight');
    push @cleanup, $key, "$key:child";
    my $settled = $opt{settled} // 0;
    my @f       = map { $redis->incr($key) } 1 .. $settled;
    $loop->await( Future->needs_all(@f) ) if @f;
    my $blocker = $opt{blocker} ? $redis->command( 'BLPOP', "$key:nothing", '0.3' ) : undef;
    push @f, map { $redis->incr($key) } $settled + 1 .. $N;
    $opt{before_fork}->( \@f ) if $opt{before_fork};
    my $ready_at_fork = grep { $_->is_ready } @f;
    is( $ready_at_fork, $settled, "$what: $settled answered at the fork" );

    my ( $pid, $fh ) = FIORTest::in_worker(
        sub {
            my $loop         = IO::Async::Loop->new;
            my $done_at_fork = grep { $_->is_ready } @f;

            # The first use of the inherited client in this process.
            my $id = $redis->command( 'CLIENT', 'ID' )->get;
            my $n  = classify( \@f, [ 1 .. $N ] );

            # Running the loop a while must not bring any of the parent's
            # replies here.
            Future::IO->sleep(0.5)->get;
            my $later = classify( \@f, [ 1 .. $N ] );
            my @mine
                = $loop->await( Future->needs_all( map { $redis->incr("$key:child") } 1 .. 100 ) )
                ->get;
            return {
                done_at_fork    => $done_at_fork,
                after_first_use => $n,
                after_a_while   => $later,
                blocker         => $blocker ? classify( [$blocker] ) : 'none',
                new_commands => ( join( ',', @mine ) eq join( ',', 1 .. 100 ) ? 'right' : "@mine" ),
                own_connection => ( $id ne $parent_id ? 1 : "same id $id" ),
                still_same_id  => ( $redis->command( 'CLIENT', 'ID' )->get eq $id ? 1 : 0 ),
            };
        }
    );

    # The parent, meanwhile: every reply its own, in order.
    my $all = Future->needs_all( $blocker // (), @f );
    ok( FIORTest::ready_within( $all, 20 ), "$what: parent: all $N answered" );
    my @got = $all->is_done ? $all->get : ();
    is( shift @got, undef,       "$what: parent: the BLPOP timed out (nil)" ) if $blocker;
    is( \@got,      [ 1 .. $N ], "$what: parent: the INCR replies are 1 .. $N, in order" );

    my $lost   = $N - $settled;
    my $report = FIORTest::worker_report( $pid, $fh );
    my $after  = {
        fork_failed => $lost,
        done_right  => $settled,
        pending     => 0,
        other       => 0,
        messages    => $lost ? $FORK_MESSAGE : []
    };
    is(
        $report,
        {
            exit_status     => 0,
            done_at_fork    => $settled,
            after_first_use => $after,
            after_a_while   => $after,
            blocker         => $blocker
            ? {
                fork_failed => 1,
                done_right  => 0,
                pending     => 0,
                other       => 0,
                messages    => $FORK_MESSAGE
                }
            : 'none',
            new_commands   => 'right',
            own_connection => 1,
            still_same_id  => 1,
        },
        "$what: child: the $lost inherited futures failed with the fork error, the client works"
    );
    parent_intact( $redis, $parent_id, $what );
    is( $redis->incr($key)->get, $N + 1, "$what: parent: the key saw exactly its $N INCRs" );
    return;
}

subtest '1,000 commands in flight at the fork' => sub {
    my ( $redis, $parent_id ) = new_client();
    fork_while_incrs_in_flight( 'plain', $redis, $parent_id, blocker => 1 );

    # And once more on the same client: a second fork is no different.
    fork_while_incrs_in_flight( 'plain, again', $redis, $parent_id, blocker => 1 );

    # Half of them answered (and dispatched) before the fork.
    fork_while_incrs_in_flight(
        'plain, half answered', $redis, $parent_id,
        settled => $N / 2,
        blocker => 1
    );

    # Every reply already in the core, none dispatched yet (the loop has
    # not run since): the child must not get them either.
    fork_while_incrs_in_flight(
        'plain, replies waiting',
        $redis,
        $parent_id,
        before_fork => sub { Time::HiRes::sleep(0.3) }    # without running the loop
    );
    $redis->disconnect;
};

subtest 'auto_pipeline: fork before the commands went out' => sub {
    my ( $redis, $parent_id ) = new_client( auto_pipeline => 1 );
    fork_while_incrs_in_flight(
        'auto, queued',
        $redis,
        $parent_id,
        blocker     => 1,
        before_fork => sub {
            is( $redis->inflight_count, 0, 'auto, queued: nothing sent yet at the fork' );
        }
    );
    $redis->disconnect;
};

subtest 'auto_pipeline: fork once the commands are in flight' => sub {
    my ( $redis, $parent_id ) = new_client( auto_pipeline => 1 );
    fork_while_incrs_in_flight(
        'auto, sent',
        $redis,
        $parent_id,
        blocker     => 1,
        before_fork => sub {

            # One loop turn at a time until the tick's batch went out (the
            # BLPOP keeps the replies away meanwhile).
            my $until = time + 10;
            $loop->loop_once(0.01) while $redis->inflight_count < $N + 1 && time < $until;
            is( $redis->inflight_count, $N + 1, 'auto, sent: all in flight at the fork' );
        }
    );
    $redis->disconnect;
};

subtest 'in flight on a client the child does not use first' => sub {
    my ( $redis, $parent_id ) = new_client();
    my ($other) = new_client();
    my $key = FIORTest::unique_key('bystander');
    push @cleanup, $key;
    my $blocker = $redis->command( 'BLPOP', "$key:nothing", '0.3' );
    my @f       = map { $redis->incr($key) } 1 .. $N;
    my ( $pid, $fh ) = FIORTest::in_worker(
        sub {
            my $loop = IO::Async::Loop->new;

            # The first use in this process is of the other client: the
            # first one's inherited futures fail all the same.
            my $echo      = $other->command( 'ECHO', 'other' )->get;
            my $inherited = classify( [ $blocker, @f ] );
            my $id        = $redis->command( 'CLIENT', 'ID' )->get;
            return {
                echo           => $echo,
                inherited      => $inherited,
                own_connection => ( $id ne $parent_id ? 1 : 0 )
            };
        }
    );
    my $all = Future->needs_all( $blocker, @f );
    ok( FIORTest::ready_within( $all, 20 ), "parent: all $N answered" );
    is( [ $all->is_done ? $all->get : () ], [ undef, 1 .. $N ], 'parent: its replies, in order' );
    is(
        FIORTest::worker_report( $pid, $fh ),
        {
            exit_status => 0,
            echo        => 'other',
            inherited   => {
                fork_failed => $N + 1,
                done_right  => 0,
                pending     => 0,
                other       => 0,
                messages    => $FORK_MESSAGE
            },
            own_connection => 1,
        },
        'child: the futures of a client it had not used yet failed with the fork error'
    );
    parent_intact( $redis, $parent_id, 'bystander' );
    $other->disconnect;
    $redis->disconnect;
};

subtest 'a pipeline built before the fork, executed in the child' => sub {
    my ( $redis, $parent_id ) = new_client();
    my $key = FIORTest::unique_key('pipe');
    push @cleanup, $key;
    my $p = $redis->pipeline->incr($key)->incr($key)->command( 'ECHO', 'token' )
        ->command( 'CLIENT', 'ID' );
    my ( $pid, $fh ) = FIORTest::in_worker(
        sub {
            my $loop    = IO::Async::Loop->new;
            my $replies = $loop->await( $p->execute )->get;
            return {
                replies        => $replies,
                own_connection => ( $replies->[3] ne $parent_id ? 1 : 0 )
            };
        }
    );
    my $report = FIORTest::worker_report( $pid, $fh );
    is(
        $report,
        {
            exit_status    => 0,
            replies        => [ 1, 2, 'token', $report->{replies}[3] ],
            own_connection => 1
        },
        'child: the replies of the pipeline it executed'
    );

    # The parent's copy still holds its commands: the child ran first.
    is(
        $p->execute->get,
        [ 3, 4, 'token', $parent_id ],
        'parent: the same pipeline executes on its own connection'
    );
    parent_intact( $redis, $parent_id, 'pipeline in child' );
    $redis->disconnect;
};

subtest 'a fork while a pipeline executes' => sub {
    my ( $redis, $parent_id ) = new_client();
    my $key = FIORTest::unique_key('pipe-inflight');
    push @cleanup, $key, "$key:child";
    my $blocker = $redis->command( 'BLPOP', "$key:nothing", '0.3' );
    my $p       = $redis->pipeline;
    $p->incr($key) for 1 .. $N;
    my $executing = $p->execute;
    my $ready     = $executing->is_ready ? 1 : 0;

    my ( $pid, $fh ) = FIORTest::in_worker(
        sub {
            my $loop = IO::Async::Loop->new;
            my $mine = $loop->await(
                $redis->pipeline->incr("$key:child")->command( 'CLIENT', 'ID' )->execute )->get;
            return {
                inherited      => classify( [ $executing, $blocker ] ),
                new_pipeline   => $mine->[0],
                own_connection => ( $mine->[1] ne $parent_id ? 1 : 0 ),
            };
        }
    );
    ok( FIORTest::ready_within( $executing, 20 ), 'parent: the pipeline was answered' );
    is( $executing->get, [ 1 .. $N ], "parent: its $N replies, in order" );
    is( $blocker->get,   undef,       'parent: and the BLPOP before it' );
    is( $ready,          0,           'it was in flight at the fork' );
    is(
        FIORTest::worker_report( $pid, $fh ),
        {
            exit_status => 0,
            inherited   => {
                fork_failed => 2,
                done_right  => 0,
                pending     => 0,
                other       => 0,
                messages    => $FORK_MESSAGE
            },
            new_pipeline   => 1,
            own_connection => 1,
        },
        'child: the inherited execute failed with the fork error, a new pipeline works'
    );
    parent_intact( $redis, $parent_id, 'pipeline in flight' );
    $redis->disconnect;
};

my $redis = Future::IO::Redis->new(%$srv);
$redis->del(@cleanup)->get;
$redis->disconnect;
done_testing;
