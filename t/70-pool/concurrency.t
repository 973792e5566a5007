# Future::IO::Redis::Pool under load: 200 concurrent with() calls on a pool
# of max 5 never have more than 5 connections (server side, CLIENT LIST of
# the pool's client_name sampled all through the run; pool side, stats and
# the connections and CLIENT IDs the callbacks saw), and each call gets its
# own reply; the same holds while dirty connections are destroyed and
# replaced; when all max connections are busy an acquire fails after
# acquire_timeout with Error::Timeout (command ACQUIRE) and a with() never
# runs its callback; waiters are served first come first served, and a
# cancelled waiter is skipped.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use Scalar::Util qw(refaddr);
use Time::HiRes  qw(time);
use lib 't/lib';
use FIORTest;

alarm 90;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $mon  = Future::IO::Redis->new(%$srv);    # looks at the server
$mon->connect->get;

my $names = 0;
sub unique_name { "fior-pool-conc-$$-" . ++$names }

# How many of the server's clients are named $name.
async sub server_count {
    my ($name) = @_;
    my $list = await $mon->command( 'CLIENT', 'LIST' );
    return scalar grep { /(?:^|\s)name=\Q$name\E(?:\s|$)/ } split /\r?\n/, $list;
}

# Runs $work (a future) while sampling the server's count of $name and the
# pool's stats; gives the highest of each and the number of samples.
sub sampled {
    my ( $pool,       $name,      $work )    = @_;
    my ( $max_server, $max_total, $samples ) = ( 0, 0, 0 );
    my $sampler = (
        async sub {
            until ( $work->is_ready ) {
                my $n = await server_count($name);
                $max_server = $n if $n > $max_server;
                my $total = $pool->stats->{total};
                $max_total = $total if $total > $max_total;
                $samples++;
                await $loop->delay_future( after => 0.002 );
            }
        }
    )->();
    $work->await;
    $sampler->get;
    return ( $max_server, $max_total, $samples );
}

subtest '200 concurrent with() on max 5' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => $name,
        min             => 1,
        max             => 5,
        acquire_timeout => 20,
    );
    my ( %conns, %ids, $in_use, $max_in_use, $max_total_inside );
    ( $in_use, $max_in_use, $max_total_inside ) = ( 0, 0, 0 );
    my @calls = map {
        my $i = $_;
        $pool->with(
            async sub {
                my ($r) = @_;
                $in_use++;
                $max_in_use = $in_use if $in_use > $max_in_use;
                my $total = $pool->stats->{total};
                $max_total_inside = $total if $total > $max_total_inside;
                $conns{ refaddr $r } = 1;
                my $id = await $r->command( 'CLIENT', 'ID' );
                $ids{$id} = 1;
                my $echo = await $r->command( 'ECHO', "call $i" );
                await $loop->delay_future( after => 0.001 ) if $i % 3 == 0;
                $in_use--;
                return $echo;
            }
        );
    } 1 .. 200;
    my $all = Future->needs_all(@calls);
    my ( $max_server, $max_total, $samples ) = sampled( $pool, $name, $all );

    ok( $all->is_done, 'all 200 calls succeeded' ) or diag( $all->failure );
    is(
        [ map { $_->is_done ? $_->get : undef } @calls ],
        [ map { "call $_" } 1 .. 200 ],
        'each got its own reply'
    );
    ok( $samples >= 3,          "sampled during the run ($samples samples)" );
    ok( $max_server <= 5,       "server side: at most 5 connections (saw $max_server)" );
    ok( $max_total <= 5,        "stats total: at most 5 (saw $max_total)" );
    ok( $max_total_inside <= 5, "stats total inside callbacks: at most 5 ($max_total_inside)" );
    ok( $max_in_use <= 5,       "at most 5 callbacks at once ($max_in_use)" );
    ok( keys %conns <= 5,       'at most 5 connection objects ever (' . keys(%conns) . ')' );
    ok( keys %ids <= 5,         'at most 5 server connections ever (' . keys(%ids) . ')' );
    is( $loop->await( server_count($name) )->get, 5, 'all 5 were used' );
    is(
        $pool->stats,
        { active => 0, idle => 5, waiting => 0, total => 5, destroyed => 0 },
        'all back, idle'
    );
    $pool->shutdown;
};

subtest 'max holds while dirty connections are replaced' => sub {
    my $name = unique_name();
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => $name,
        min             => 0,
        max             => 3,
        acquire_timeout => 20,
    );
    my %ids;
    my @calls = map {
        my $i = $_;
        $pool->with(
            async sub {
                my ($r) = @_;
                $ids{ await $r->command( 'CLIENT', 'ID' ) } = 1;
                await $r->multi_start if $i % 2;    # given back in MULTI: destroyed
                return $i;
            }
        );
    } 1 .. 60;
    my $all = Future->needs_all(@calls);
    my ( $max_server, $max_total ) = sampled( $pool, $name, $all );
    ok( $all->is_done,    'all 60 calls succeeded' ) or diag( $all->failure );
    ok( $max_server <= 3, "server side: at most 3 at a time (saw $max_server)" );
    ok( $max_total <= 3,  "stats total: at most 3 (saw $max_total)" );
    is( $pool->stats->{destroyed}, 30, 'the 30 dirty ones were destroyed' );
    ok( keys %ids > 3, 'and replaced by new connections (' . keys(%ids) . ' in all)' );
    $pool->shutdown;
};

subtest 'acquire_timeout' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => unique_name(),
        max             => 2,
        acquire_timeout => 0.5,
    );
    my @held  = map { $_->get } $pool->acquire, $pool->acquire;
    my $start = time;
    my $err   = FIORTest::failure_of( $pool->acquire );
    my $took  = time - $start;
    isa_ok( $err, ['Future::IO::Redis::Error::Timeout'], 'a third acquire times out' );
    is( $err->command,        'ACQUIRE', 'command ACQUIRE' );
    is( $err->timeout,        0.5,       'timeout' );
    is( $err->maybe_executed, 0,         'nothing executed' );
    like( "$err", qr/pool/, 'the message mentions the pool' );
    ok( $took >= 0.4, "after about acquire_timeout (${took}s)" );

    my $ran = 0;
    $err = FIORTest::failure_of( $pool->with( async sub { $ran++ } ) );
    isa_ok( $err, ['Future::IO::Redis::Error::Timeout'], 'with() times out too' );
    is( $ran, 0, 'its callback never ran' );
    is(
        $pool->stats,
        { active => 2, idle => 0, waiting => 0, total => 2, destroyed => 0 },
        'no waiter left behind'
    );

    $pool->release( $held[0] );
    is( refaddr( $pool->acquire->get ), refaddr( $held[0] ), 'a released one is served at once' );
    $pool->release($_) for @held;
    $pool->shutdown;
};

subtest 'waiters are served in order; a cancelled one is skipped' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => unique_name(),
        max             => 1,
        acquire_timeout => 10,
    );
    my $held = $pool->acquire->get;
    my @order;
    my @calls = map {
        my $i = $_;
        $pool->with(
            async sub {
                my ($r) = @_;
                push @order, $i;
                await $r->ping;
            }
        );
    } 1 .. 6;
    my $gives_up = $pool->acquire;    # 7th in line, cancelled below
    my $last     = $pool->with( async sub { push @order, 8; await $_[0]->ping } );
    $held->ping->get;
    is( \@order,                 [], 'nobody served while the connection is out' );
    is( $pool->stats->{waiting}, 8,  'eight waiting' );
    $calls[2]->cancel;
    $gives_up->cancel;
    is( $pool->stats->{waiting}, 6, 'six after two cancels' );
    $pool->release($held);
    Future->needs_all( @calls[ 0, 1, 3, 4, 5 ], $last )->get;
    is( \@order, [ 1, 2, 4, 5, 6, 8 ], 'first come first served, cancelled ones skipped' );
    is(
        $pool->stats,
        { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
        'one connection served them all'
    );
    $pool->shutdown;
};

subtest 'concurrent acquires past max wait, then are served' => sub {
    my $pool = Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => unique_name(),
        min             => 0,
        max             => 3,
        acquire_timeout => 10,
    );
    my @f = map { $pool->acquire } 1 .. 10;
    Future->wait_any( Future->needs_all( @f[ 0 .. 2 ] ), $loop->delay_future( after => 5 ) )->get;
    is( [ map { $_->is_done ? 1 : 0 } @f ], [ 1, 1, 1, (0) x 7 ], 'three served, seven wait' );
    is( $pool->stats, { active => 3, idle => 0, waiting => 7, total => 3, destroyed => 0 },
        'stats' );
    my %seen;
    for my $i ( 0 .. 9 ) {
        my $conn = $f[$i]->get;
        $seen{ refaddr $conn }++;
        $pool->release($conn);
    }
    is( scalar keys %seen,     3, 'all ten served by three connections' );
    is( $pool->stats->{total}, 3, 'still three' );
    $pool->shutdown;
};

$mon->disconnect;
done_testing;
