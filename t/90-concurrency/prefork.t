# A preforking server: the parent warms a pool (min = max = 4) and connects
# a plain client, then forks 8 workers at once; they wait at a barrier until
# all 8 are forked, then each runs 1,000 tasks through the inherited pool
# (all issued at once: SET + GET, ECHO, INCRBY on keys and tokens of its own)
# and 50 ECHOs through the inherited client, checks every reply is its own,
# reports over a pipe and leaves with a plain exit 0 (so END blocks and
# destructors run; half of them drop the pool and client first). The parent
# keeps running commands on its pool and client all the while. Afterwards:
# every worker got 1,000 right replies on connections of its own, the
# parent had no wrong reply, its pool still holds the same 4 connections
# (CLIENT IDs, CLIENT LIST), nothing was destroyed, its client keeps its
# connection, and what the workers wrote is on the server exactly once.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use IO::Handle;
use JSON::PP    qw(encode_json decode_json);
use POSIX       qw(WNOHANG);
use Time::HiRes ();
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop     = IO::Async::Loop->new;
my $srv      = FIORTest::server('plain');
my $name     = "fior-prefork-$$";
my $base     = FIORTest::unique_key('prefork');
my $WORKERS  = 8;
my $TASKS    = 1000;
my $ECHOES   = 50;
my $POOLSIZE = 4;

# Each worker queues 1,000 acquires at once on 4 connections, with 8
# workers and the parent on the CPUs: the timeouts are only hang guards.
my %guards = ( request_timeout => 30 );
my $pool   = Future::IO::Redis::Pool->new(
    %$srv, %guards,
    client_name     => $name,
    min             => $POOLSIZE,
    max             => $POOLSIZE,
    acquire_timeout => 30
);
my $client = Future::IO::Redis->new( %$srv, %guards, client_name => "$name-plain" );
$client->connect->get;
my $client_id = $client->command( 'CLIENT', 'ID' )->get;

# The pool's connections, each by its CLIENT ID: all 4 at once.
sub pool_ids {
    my @conns = $loop->await( Future->needs_all( map { $pool->acquire } 1 .. $POOLSIZE ) )->get;
    my @ids   = map { $_->command( 'CLIENT', 'ID' )->get } @conns;
    $pool->release($_) for @conns;
    return [ sort { $a <=> $b } @ids ];
}

$loop->await( $pool->warm );
my $parent_ids = pool_ids();
is( scalar @$parent_ids, $POOLSIZE, "the pool holds $POOLSIZE connections" );
is(
    $pool->stats,
    { active => 0, idle => $POOLSIZE, waiting => 0, total => $POOLSIZE, destroyed => 0 },
    'all idle at the fork'
);
is( [ sort { $a <=> $b } keys %{ FIORTest::clients_named( $client, $name ) } ],
    $parent_ids, 'the server lists them' );

# One task: its replies checked against what only this process, this task
# could have asked for. Gives (right, what was wrong).
sub task {
    my ( $who, $i ) = @_;
    my $key   = "$base:$who:$i";
    my $value = "$who-$$-$i-" . ( 'x' x ( $i % 37 ) );
    my $kind  = $i % 3;
    return $pool->with(
        async sub {
            my ($r) = @_;
            my ( @got, @want );
            if ( $kind == 0 ) {

                # Both in flight at once on the one connection.
                @got  = await Future->needs_all( $r->set( $key, $value ), $r->get($key) );
                @want = ( 'OK', $value );
            }
            elsif ( $kind == 1 ) {
                @got  = await $r->command( 'ECHO', $value );
                @want = ($value);
            }
            else {
                @got  = await Future->needs_all( map { $r->command( 'INCRBY', $key, $i ) } 1, 2 );
                @want = ( $i, 2 * $i );
            }
            my $ok = join( "\0", map { $_ // '<undef>' } @got ) eq join( "\0", @want );
            return $ok ? ( 1, undef ) : ( 0, "task $i: got [@got], want [@want]" );
        }
    )->else( sub { Future->done( 0, "task $i failed: $_[0]" ) } );
}

# Runs the tasks and the client's ECHOs all at once; counts what was right.
sub run_batch {
    my ( $who, $tasks, $echoes ) = @_;
    my %tally = ( right => 0, wrong => 0, echo_right => 0, echo_wrong => 0, first_wrong => [] );
    my @t     = map { task( $who, $_ ) } @$tasks;
    my @e     = map {
        my $token = "$who-$$-echo-$_";
        $client->command( 'ECHO', $token )
            ->then( sub { Future->done( $_[0] eq $token ? 1 : 0, "echo $token: got $_[0]" ) } )
            ->else( sub { Future->done( 0,                       "echo $token failed: $_[0]" ) } )
    } 1 .. $echoes;
    $loop->await( Future->wait_all( @t, @e ) );
    for my $f (@t) {
        my ( $ok, $why ) = $f->get;
        $tally{ $ok ? 'right' : 'wrong' }++;
        push @{ $tally{first_wrong} }, $why if !$ok && @{ $tally{first_wrong} } < 5;
    }
    for my $f (@e) {
        my ( $ok, $why ) = $f->get;
        $tally{ $ok ? 'echo_right' : 'echo_wrong' }++;
        push @{ $tally{first_wrong} }, $why if !$ok && @{ $tally{first_wrong} } < 5;
    }
    return \%tally;
}

# --- the workers --------------------------------------------------------------

pipe( my $barrier_r, my $barrier_w ) or die "pipe: $!";
$_->flush for *STDOUT{IO}, *STDERR{IO};    # nothing buffered to print twice
my %kids;                                  # pid => [worker number, report pipe]
for my $n ( 1 .. $WORKERS ) {
    pipe( my $from_kid, my $to_kid ) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ( !$pid ) {
        alarm 45;    # a hung worker dies (and fails the test)
        close $barrier_w;
        close $from_kid;
        close $_->[1] for values %kids;
        my $report = eval { worker($n) } // { error => "$@" };
        print {$to_kid} encode_json($report);
        close $to_kid;
        if ( $n % 2 ) {

            # Half the workers drop what they inherited before they go:
            # the pool and client are destroyed outside global destruction.
            undef $pool;
            undef $client;
        }
        exit 0;
    }
    close $to_kid;
    $kids{$pid} = [ $n, $from_kid ];
}

sub worker {
    my ($n) = @_;

    # Wait until the parent has forked all of them (it closes its end).
    sysread( $barrier_r, my $byte, 1 );
    my $loop  = IO::Async::Loop->new;
    my $tally = run_batch( "w$n", [ 1 .. $TASKS ], $ECHOES );

    # The connections the worker used are its own.
    my @conns = $loop->await( Future->needs_all( map { $pool->acquire } 1 .. $POOLSIZE ) )->get;
    my @ids   = map { $_->command( 'CLIENT', 'ID' )->get } @conns;
    $pool->release($_) for @conns;
    my $stats = $pool->stats;
    return {
        %$tally,
        pool_ids  => [ sort { $a <=> $b } @ids ],
        client_id => $client->command( 'CLIENT', 'ID' )->get,
        total     => $stats->{total},
        destroyed => $stats->{destroyed},
    };
}

# All forked: let them go, and keep working until every one has exited.
close $barrier_w;
close $barrier_r;
my %exit_of;
my %parent
    = ( rounds => 0, right => 0, wrong => 0, echo_right => 0, echo_wrong => 0, first_wrong => [] );
my $until = Time::HiRes::time() + 40;
while ( keys %exit_of < $WORKERS && Time::HiRes::time() < $until ) {
    my $tally = run_batch( "parent", [ map { $parent{rounds} * 1000 + $_ } 1 .. 30 ], 30 );
    $parent{rounds}++;
    $parent{$_} += $tally->{$_} for qw(right wrong echo_right echo_wrong);
    push @{ $parent{first_wrong} }, @{ $tally->{first_wrong} };
    while ( ( my $pid = waitpid( -1, WNOHANG ) ) > 0 ) {
        $exit_of{$pid} = $? if $kids{$pid};
    }
}
if ( keys %exit_of < $WORKERS ) {
    my @stuck = grep { !exists $exit_of{$_} } keys %kids;
    fail("workers still running after 40 s: @stuck");
    kill KILL => @stuck;
    for my $pid (@stuck) {
        waitpid( $pid, 0 );
        $exit_of{$pid} = $?;
    }
}
note "the parent ran $parent{rounds} rounds while the workers ran";

# --- what the workers saw -----------------------------------------------------

my %seen_ids = map { $_ => 1 } @$parent_ids, $client_id;    # the parent's own
for my $pid ( sort { $kids{$a}[0] <=> $kids{$b}[0] } keys %kids ) {
    my ( $n, $fh ) = @{ $kids{$pid} };
    my $out    = do { local $/; <$fh> };
    my $report = eval { decode_json($out) } // { unreadable => $out };
    $report->{exit_status} = $exit_of{$pid};
    my $ids = delete $report->{pool_ids} // [];
    my $cid = delete $report->{client_id};
    is(
        $report,
        {
            exit_status => 0,
            right       => $TASKS,
            wrong       => 0,
            echo_right  => $ECHOES,
            echo_wrong  => 0,
            first_wrong => [],
            total       => $POOLSIZE,
            destroyed   => 0,
        },
        "worker $n: $TASKS tasks and $ECHOES echoes, every reply its own; exit 0"
    );
    is( scalar @$ids, $POOLSIZE, "worker $n: its pool holds $POOLSIZE connections" );
    my @shared = grep { $seen_ids{$_}++ } @$ids, grep { defined } $cid;
    is( \@shared, [], "worker $n: on connections of its own (not the parent's, not another's)" );
    ok( defined $cid && $cid ne $client_id, "worker $n: its client on a connection of its own" );
}

# --- the parent -------------------------------------------------------------

is(
    { map { $_ => $parent{$_} } qw(wrong echo_wrong first_wrong) },
    { wrong => 0, echo_wrong => 0, first_wrong => [] },
    'parent: every reply its own'
);
is( $parent{right},      30 * $parent{rounds}, 'parent: all its tasks answered' );
is( $parent{echo_right}, 30 * $parent{rounds}, 'parent: all its echoes answered' );

# The workers' exits left the parent's connections alone.
is( pool_ids(), $parent_ids, "parent: its pool still has the same $POOLSIZE connections" );
is(
    $pool->stats,
    { active => 0, idle => $POOLSIZE, waiting => 0, total => $POOLSIZE, destroyed => 0 },
    'parent: none destroyed or replaced'
);
is( $client->command( 'CLIENT', 'ID' )->get, $client_id,
    'parent: its client keeps its connection' );
my $listed = FIORTest::clients_named( $client, $name );
is( [ grep { !$listed->{$_} } @$parent_ids ],
    [], 'the server still lists the parent pool\'s connections' );
ok( FIORTest::clients_named( $client, "$name-plain" )->{$client_id}, 'and the parent client\'s' );

# (The server hears of the workers' connections closing in its own time.)
ok(
    FIORTest::eventually(
        sub {
            my @ids = sort { $a <=> $b } keys %{ FIORTest::clients_named( $client, $name ) },
                keys %{ FIORTest::clients_named( $client, "$name-plain" ) };
            "@ids" eq join ' ', sort { $a <=> $b } @$parent_ids, $client_id;
        },
        10
    ),
    'no worker\'s connection is left'
);
my $after = run_batch( 'after', [ 1 .. 300 ], 100 );
is(
    $after,
    { right => 300, wrong => 0, echo_right => 100, echo_wrong => 0, first_wrong => [] },
    'parent: pool and client work afterwards'
);

# What the workers wrote is there, exactly once: each SET's value (it names
# the worker's pid), and each INCRBY key at 2 * i.
my %pid_of = map { $kids{$_}[0] => $_ } keys %kids;
my ( @keys, @want );
for my $n ( 1 .. $WORKERS ) {
    for my $i ( grep { $_ % 3 != 1 } 1 .. $TASKS ) {
        push @keys, "$base:w$n:$i";
        push @want, $i % 3 ? 2 * $i : "w$n-$pid_of{$n}-$i-" . ( 'x' x ( $i % 37 ) );
    }
}
my @stored = $loop->await( Future->needs_all( map { $client->get($_) } @keys ) )->get;
my @differ = grep { ( $stored[$_] // '<undef>' ) ne $want[$_] } 0 .. $#keys;
is( [ @keys[ @differ[ 0 .. ( $#differ < 4 ? $#differ : 4 ) ] ] ],
    [], 'the workers\' writes are on the server, each once' );

# --- clean up -----------------------------------------------------------------

@keys = @{ $client->command( 'KEYS', "$base:*" )->get };
$client->del( splice @keys, 0, 500 )->get while @keys;
$pool->shutdown;
$client->disconnect;
done_testing;
