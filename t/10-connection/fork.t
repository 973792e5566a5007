# The core mechanism of fork safety: a child uses an inherited client on a
# fresh connection, and the parent's client keeps working, also while the
# child is busy. (The seed's full test is t/10-connection/fork-safety.t.)
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use POSIX qw(_exit);
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $redis = Future::IO::Redis->new( %{ FIORTest::server('plain') } );
my $key   = FIORTest::unique_key('fork');
$redis->connect->get;
$redis->set( $key, 'from parent' )->get;
my $parent_id = $redis->command( 'CLIENT', 'ID' )->get;

subtest 'child gets its own connection' => sub {
    my ( $pid, $fh ) = FIORTest::in_child(
        sub {
            my $loop  = IO::Async::Loop->new;
            my $value = $loop->await( $redis->get($key) )->get;
            my $id    = $redis->command( 'CLIENT', 'ID' )->get;
            return join ',', $value, $id, $redis->{_pid} == $$ ? 'pid-updated' : 'pid-stale';
        }
    );

    # The parent goes on using its client while the child works.
    my @mine = map { $redis->command( 'ECHO', "p$_" )->get } 1 .. 20;
    is( \@mine, [ map { "p$_" } 1 .. 20 ], 'parent served while the child runs' );
    my ( $value, $id, $pid_state ) = split /,/, FIORTest::child_output( $pid, $fh );
    is( $value, 'from parent', 'child read the value' );
    isnt( $id, $parent_id, 'child used a connection of its own' );
    is( $pid_state, 'pid-updated', 'child client records its own pid' );
};

subtest 'parent unaffected by a child that exits' => sub {
    my ( $pid, $fh ) = FIORTest::in_child( sub { 'bye' } );
    is( FIORTest::child_output( $pid, $fh ),    'bye',      'child exited' );
    is( $redis->ping->get,                      'PONG',     'parent still works' );
    is( $redis->command( 'CLIENT', 'ID' )->get, $parent_id, 'on its original connection' );
};

subtest 'a future made before fork fails in the child, completes in the parent' => sub {
    my $f = $redis->command( 'BLPOP', "$key:nothing", '0.2' );
    my ( $pid, $fh ) = FIORTest::in_child(
        sub {
            my $loop = IO::Async::Loop->new;
            $redis->ping->get;    # first use in the child
            return $f->is_failed ? ref( $f->failure ) : 'not failed';
        }
    );
    is(
        FIORTest::child_output( $pid, $fh ),
        'Future::IO::Redis::Error::Disconnected',
        'inherited future failed in the child'
    );
    is( $f->get, undef, 'the same future completes in the parent' );
};

subtest 'several children at once' => sub {
    my @kids = map {
        my $n = $_;
        [ FIORTest::in_child( sub { $redis->command( 'ECHO', "kid$n" )->get } ) ]
    } 1 .. 4;
    is(
        [ map { FIORTest::child_output(@$_) } @kids ],
        [ map { "kid$_" } 1 .. 4 ],
        'each child got its own reply'
    );
    is( $redis->ping->get, 'PONG', 'parent fine' );
};

$redis->del($key)->get;
$redis->disconnect;
done_testing;
