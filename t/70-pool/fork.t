# A Future::IO::Redis::Pool inherited across fork: the pool records its pid;
# a child using it (with, as in the seed's fork-safety test) gets a fresh
# connection of its own (another CLIENT ID) that reads the parent's data,
# while the parent's idle connection is left alone (the parent goes on
# using the same server connection, also while the child works); a waiter
# inherited from the parent fails in the child with Error::Disconnected and
# releasing a connection acquired before the fork is quietly ignored there;
# several children using one inherited pool at once (a preforking server)
# each work, and the parent pool keeps working. Children report through a
# pipe and leave with POSIX::_exit.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use POSIX qw(_exit);
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $key  = FIORTest::unique_key('poolfork');
my $name = "fior-pool-fork-$$";
my $pool = Future::IO::Redis::Pool->new( %$srv, client_name => $name, min => 1, max => 3 );

is( $pool->{_pid}, $$, 'the pool records its pid' );
my $conn = $loop->await( $pool->acquire )->get;
$conn->set( $key, 'pool_value' )->get;
my $parent_id = $conn->command( 'CLIENT', 'ID' )->get;
$pool->release($conn);

subtest 'a child uses the inherited pool' => sub {
    my ( $pid, $fh ) = FIORTest::in_child(
        sub {
            my $loop = IO::Async::Loop->new;
            my ( $value, $id ) = @{
                $loop->await(
                    $pool->with(
                        async sub {
                            my ($r) = @_;
                            [ await $r->get($key), await $r->command( 'CLIENT', 'ID' ) ];
                        }
                    )
                )->get
            };
            my $s = $pool->stats;
            return join ',', $value, $id, ( $pool->{_pid} == $$ ? 'pid-updated' : 'pid-stale' ),
                "total=$s->{total}", "idle=$s->{idle}";
        }
    );

    # The parent goes on using its pool while the child works.
    my @mine = map {
        my $n = $_;
        $pool->with( async sub { await $_[0]->command( 'ECHO', "p$n" ) } )->get
    } 1 .. 20;
    is( \@mine, [ map { "p$_" } 1 .. 20 ], 'parent served while the child runs' );

    my ( $value, $id, $pid_state, $total, $idle ) = split /,/, FIORTest::child_output( $pid, $fh );
    is( $value, 'pool_value', 'the child read the value' ) or diag("child: $value");
    ok( defined $id && $id ne $parent_id, 'on a connection of its own' );
    is( $pid_state, 'pid-updated', 'the child pool records its own pid' );
    is( [ $total, $idle ], [ 'total=1', 'idle=1' ],
        'the child pool holds only its own connection' );

    my $again = $pool->acquire->get;
    is( $again->command( 'CLIENT', 'ID' )->get, $parent_id, 'parent: still its first connection' );
    $pool->release($again);
    is( $pool->stats->{destroyed}, 0, 'parent: nothing destroyed' );
};

subtest 'inherited waiters and connections in the child' => sub {
    my $small = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => "$name-small",
        max             => 1,
        acquire_timeout => 10
    );
    my $held   = $small->acquire->get;
    my $waiter = $small->acquire;
    $held->ping->get;
    ok( !$waiter->is_ready, 'parent: a caller waits' );

    my ( $pid, $fh ) = FIORTest::in_child(
        sub {
            my $loop = IO::Async::Loop->new;
            my $s    = $small->stats;                                   # first use in the child
            my $err  = $waiter->is_failed ? $waiter->failure : undef;
            my @warn;
            local $SIG{__WARN__} = sub { push @warn, @_ };
            $small->release($held);                                     # acquired before the fork
            my $echo = $loop->await(
                $small->with( async sub { await $_[0]->command( 'ECHO', 'child' ) } ) )->get;
            return join ',', ( ref $err || 'not failed' ), "waiting=$s->{waiting}",
                'warnings=' . @warn, $echo;
        }
    );
    is(
        FIORTest::child_output( $pid, $fh ),
        'Future::IO::Redis::Error::Disconnected,waiting=0,warnings=0,child',
        'child: the waiter failed, the old connection was dropped quietly, a new one works'
    );
    ok( !$waiter->is_ready,  'parent: its caller still waits' );
    ok( $held->is_connected, 'parent: its connection is fine' );
    $small->release($held);
    my $got = $waiter->get;
    ok( $got == $held, 'parent: the waiter gets it' );
    is( $got->ping->get, 'PONG', 'and it works' );
    $small->release($got);
    $small->shutdown;
};

subtest 'several children use one inherited pool at once' => sub {
    my @kids = map {
        my $n = $_;
        [
            FIORTest::in_child(
                sub {
                    my $loop = IO::Async::Loop->new;
                    my @got  = map {
                        my $i = $_;
                        $pool->with( async sub { await $_[0]->command( 'ECHO', "kid$n-$i" ) } )
                    } 1 .. 10;
                    return join ' ', $loop->await( Future->needs_all(@got) )->get;
                }
            )
        ]
    } 1 .. 4;
    my $parent = $pool->with( async sub { await $_[0]->command( 'ECHO', 'parent' ) } )->get;
    is( $parent, 'parent', 'the parent works while the children run' );
    for my $n ( 1 .. 4 ) {
        is(
            FIORTest::child_output( @{ $kids[ $n - 1 ] } ),
            join( ' ', map { "kid$n-$_" } 1 .. 10 ),
            "child $n got its own replies"
        );
    }
    my $r = $pool->acquire->get;
    is( $r->command( 'CLIENT', 'ID' )->get, $parent_id,   'parent: still its first connection' );
    is( $r->get($key)->get,                 'pool_value', 'and it works' );
    $pool->release($r);
    ok( $pool->stats->{total} <= 3, 'parent: within max' );
};

$pool->with( async sub { await $_[0]->del($key) } )->get;
$pool->shutdown;
done_testing;
