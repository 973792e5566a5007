# Regressions from a review of Future::IO::Redis::Pool. A caller is served
# from an idle connection, or a new one while fewer than max exist, rather
# than kept waiting for a dirty connection that is being cleaned (and max
# still holds, counting it). A connection given back with another client
# name or prefix is dirty: destroyed, or under on_dirty => 'cleanup' the
# same connection comes back with the pool's name (on the server) and
# prefix; one given back logged in as another user (AUTH) is destroyed
# under either on_dirty, and the next user is the pool's user again. with()
# gives back only its own checkout: a connection released by hand inside
# the callback and handed to another caller stays that caller's. A
# connection given back while a watch_multi callback of the client still
# runs, or a transaction waits for the client's gate, is destroyed under
# either on_dirty and the next user's WATCH does not wait for it. A client
# that cannot even be made (its TLS file is gone) fails acquire and warm
# with an error object instead of dying, leaving nobody in line. A plain
# with() callback yields its whole list. Nested with() on a pool of max 1
# fails with Error::Timeout after acquire_timeout, as the POD says. After a
# destroy the pool opens connections again up to min. A pool dropped while
# a connection is being opened, checked or cleaned is freed at once and the
# connection is closed. Clients remembered across forks are forgotten once
# gone.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use File::Temp   qw(tempdir);
use Scalar::Util qw(weaken);
use lib 't/lib';
use FIORTest;

alarm 90;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('poolreview');
my $mon  = Future::IO::Redis->new(%$srv);        # looks at, and writes behind, the pool's back
$mon->connect->get;

# The auth server only where there is one (under FIOR_TEST_STRICT there must be).
my $auth
    = ( $ENV{FIOR_TEST_STRICT} || $ENV{FIOR_TEST_AUTH_PORT} ) ? FIORTest::server('auth') : undef;

my $names = 0;
sub unique_name { "fior-pool-review-$$-" . ++$names }

sub new_pool {
    my (%opt) = @_;
    return Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => unique_name(),
        min             => 0,
        max             => 1,
        acquire_timeout => 10,
        %opt,
    );
}

sub id_of { $_[0]->command( 'CLIENT', 'ID' )->get }

sub pause { $loop->delay_future( after => $_[0] )->get }

# How many of the server's clients are named $name.
sub server_count { scalar keys %{ FIORTest::clients_named( $mon, $_[0] ) } }

# The future once it is ready, or after $secs (still pending then).
sub ready_within {
    my ( $f, $secs ) = @_;
    $loop->await( Future->wait_any( $f->without_cancel, $loop->delay_future( after => $secs ) ) );
    return $f;
}

subtest 'finding 1: an idle connection is served while another is being cleaned' => sub {
    my $pool = new_pool(
        max             => 2,
        on_dirty        => 'cleanup',
        cleanup_timeout => 10,
        acquire_timeout => 1,
    );
    my $idle    = $pool->acquire->get;
    my $dirty   = $pool->acquire->get;
    my $blocked = $dirty->command( 'BLPOP', "$base:never:1", 5 );    # the cleanup waits for it
    $pool->release($idle);
    $pool->release($dirty);
    is(
        $pool->stats,
        { active => 0, idle => 1, waiting => 0, total => 2, destroyed => 0 },
        'one idle, one being cleaned'
    );
    my $f = ready_within( $pool->acquire, 0.5 );
    ok( $f->is_done, 'acquire is served at once' )
        or diag( $f->is_failed ? $f->failure : 'still waiting' );
    ok( $f->is_done && $f->get == $idle, '... with the idle connection' );
    $pool->release( $f->get ) if $f->is_done;
    $pool->shutdown;
    isa_ok(
        FIORTest::failure_of($blocked),
        ['Future::IO::Redis::Error'],
        'shutdown closed the one being cleaned'
    );
};

subtest 'finding 1: a new connection is opened while one is being cleaned' => sub {
    my $pool = new_pool(
        max             => 2,
        on_dirty        => 'cleanup',
        cleanup_timeout => 10,
        acquire_timeout => 1,
    );
    my $dirty   = $pool->acquire->get;
    my $blocked = $dirty->command( 'BLPOP', "$base:never:2", 5 );
    $pool->release($dirty);
    is( $pool->stats->{total}, 1, 'one being cleaned, room for another' );
    my $f = ready_within( $pool->acquire, 0.5 );
    ok( $f->is_done, 'acquire is served at once' )
        or diag( $f->is_failed ? $f->failure : 'still waiting' );
    ok( $f->is_done && $f->get != $dirty, '... with a new connection' );
    is( $pool->stats->{total}, 2, 'two in all (the one being cleaned counts)' );

    # Max still holds: the next caller waits for the cleaned one.
    my $third = $pool->acquire;
    pause(0.1);
    ok( !$third->is_ready,          'a third caller waits: max 2' );
    ok( $pool->stats->{total} <= 2, 'never more than max' );
    $third->cancel;
    $pool->release( $f->get ) if $f->is_done;
    $pool->shutdown;
    $blocked->await;
};

subtest 'finding 2: client name and prefix changed, on_dirty destroy' => sub {
    my $name = unique_name();
    my $pool = new_pool( client_name => $name, prefix => "$base:p:" );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    $r->command( 'CLIENT', 'SETNAME', "$name-hijacked" )->get;
    $pool->release($r);
    is( $pool->stats->{destroyed}, 1, 'another name: destroyed' );
    my $next = $pool->acquire->get;
    isnt( id_of($next), $id, 'a new connection' );
    is( $next->command( 'CLIENT', 'GETNAME' )->get, $name, "with the pool's name" );

    $next->{prefix} = "$base:other:";
    $pool->release($next);
    is( $pool->stats->{destroyed}, 2, 'another prefix: destroyed' );
    my $third = $pool->acquire->get;
    ok( $third != $next, 'a new client' );
    $third->set( 'k', 'v' )->get;
    is( $mon->get("$base:p:k")->get, 'v', "with the pool's prefix" );
    $pool->release($third);
    is( $pool->stats->{destroyed}, 2, 'a clean one is not destroyed' );
    $pool->shutdown;
    $mon->del("$base:p:k")->get;
};

subtest 'finding 2: client name and prefix changed, on_dirty cleanup' => sub {
    my $name = unique_name();
    my $pool = new_pool( client_name => $name, prefix => "$base:q:", on_dirty => 'cleanup' );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    $r->command( 'CLIENT', 'SETNAME', "$name-hijacked" )->get;
    $r->{prefix} = "$base:other:";
    $pool->release($r);
    my $next = $pool->acquire->get;
    is( id_of($next),                               $id,   'the same connection comes back' );
    is( $next->command( 'CLIENT', 'GETNAME' )->get, $name, 'its name restored on the server' );
    is( $next->{client_name},                       $name, '... and in the client' );
    $next->set( 'k', 'v' )->get;
    is( $mon->get("$base:q:k")->get, 'v', 'its prefix restored' );
    $pool->release($next);
    is( $pool->stats->{destroyed}, 0, 'nothing destroyed' );
    $pool->shutdown;

    # A pool without a name: a name given later is taken away again.
    $pool = Future::IO::Redis::Pool->new( %$srv, min => 0, max => 1, on_dirty => 'cleanup' );
    $r    = $pool->acquire->get;
    $id   = id_of($r);
    $r->command( 'CLIENT', 'SETNAME', "$name-later" )->get;
    $pool->release($r);
    $next = $pool->acquire->get;
    is( id_of($next),                               $id,   'no name: the same connection' );
    is( $next->command( 'CLIENT', 'GETNAME' )->get, undef, 'and no name again' );
    $pool->release($next);
    $pool->shutdown;
    $mon->del("$base:q:k")->get;
};

subtest 'finding 2: logged in as another user (AUTH)' => sub {
    skip_all 'no auth server (FIOR_TEST_AUTH_PORT)' unless $auth;
    for my $mode (qw(destroy cleanup)) {
        my $pool = Future::IO::Redis::Pool->new(
            host            => $auth->{host},
            port            => $auth->{port},
            password        => $auth->{password},
            client_name     => unique_name(),
            min             => 0,
            max             => 1,
            acquire_timeout => 10,
            on_dirty        => $mode,
        );
        my $r = $pool->acquire->get;
        is( $r->command( 'ACL', 'WHOAMI' )->get, 'default', "$mode: the pool's user" );

        # The same login again is no change.
        $r->command( 'AUTH', 'default', $auth->{password} )->get;
        $pool->release($r);
        is( $pool->stats->{destroyed}, 0, "$mode: AUTH as the same user: kept" );

        $r = $pool->acquire->get;
        my $id = id_of($r);
        $r->command( 'AUTH', $auth->{acl_user}, $auth->{acl_password} )->get;
        is( $r->command( 'ACL', 'WHOAMI' )->get, $auth->{acl_user}, "$mode: logged in as another" );
        $pool->release($r);
        is( $pool->stats->{destroyed}, 1, "$mode: destroyed" );
        my $next = $pool->acquire->get;
        isnt( id_of($next), $id, "$mode: a new connection" );
        is( $next->command( 'ACL', 'WHOAMI' )->get, 'default', "$mode: as the pool's user" );
        $pool->release($next);
        $pool->shutdown;
    }
};

subtest "finding 3: with() gives back its own checkout only" => sub {
    my $pool = new_pool( acquire_timeout => 2 );
    my ( $inside, $other );
    my $w = $pool->with(
        async sub {
            my ($r) = @_;
            $inside = $r;
            $pool->release($r);               # by hand
            $other = await $pool->acquire;    # another caller gets it
            await $r->ping;
            return 'done';
        }
    );
    my $warnings = warnings { is( $w->get, 'done', 'with() yields' ) };
    is( $warnings, [], 'no warning' );
    ok( $other == $inside, 'the other caller has the connection' );
    is( $pool->stats->{active}, 1, "with() did not give the other caller's connection back" );
    my $next = ready_within( $pool->acquire, 0.3 );
    ok( !$next->is_ready, 'so the next caller waits (max 1): nobody shares it' );
    $pool->release($other);
    ok( ready_within( $next, 2 )->is_done, 'until it is released' );
    $pool->release( $next->get );

    # Released by hand and not taken: with() gives nothing back, quietly.
    $warnings = warnings {
        $pool->with( sub { $pool->release( $_[0] ); 1 } )->get;
        $pool->with( async sub { $pool->release( $_[0] ); await $_[0]->ping } )->get;
    };
    is( $warnings, [], 'released by hand inside with(): no warning' );
    is( $pool->stats, { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
        'idle once' );
    $pool->shutdown;
};

subtest 'finding 4: a transaction of the client still running' => sub {
    for my $mode (qw(destroy cleanup)) {
        my $pool = new_pool( on_dirty => $mode );
        my $key  = "$base:tx:$mode";
        my $r    = $pool->acquire->get;
        my $id   = id_of($r);
        my $wm   = $r->watch_multi(
            [$key],
            async sub {
                my ($tx) = @_;
                await $loop->delay_future( after => 1 );
                $tx->set( $key, 'late' );
            }
        );
        ok(
            FIORTest::eventually(
                sub { $r->{_tx_gate} && $r->{_tx_gate}{held} && !$r->inflight_count }
            ),
            "$mode: watch_multi callback running"
        );
        $pool->release($r);
        is( $pool->stats->{destroyed}, 1, "$mode: destroyed" );
        my $next = $pool->acquire->get;
        isnt( id_of($next), $id, "$mode: the next user gets a new connection" );
        my $watch = ready_within( $next->watch("$key:other"), 0.5 );
        ok( $watch->is_done, "$mode: whose WATCH does not wait for the old transaction" );
        ready_within( $next->unwatch, 2 ) if $watch->is_done;
        isa_ok(
            FIORTest::failure_of($wm),
            ['Future::IO::Redis::Error'],
            "$mode: the old transaction failed"
        );
        is( $mon->exists($key)->get, 0, "$mode: and never ran" );
        $pool->release($next);
        $pool->shutdown;
    }

    # A transaction waiting for the gate, behind a manual MULTI.
    my $pool = new_pool( on_dirty => 'cleanup' );
    my $key  = "$base:tx:queued";
    my $r    = $pool->acquire->get;
    $r->multi_start->get;
    my $queued = $r->watch_multi( [$key], sub { $_[0]->set( $key, 'queued' ) } );
    $pool->release($r);
    is( $pool->stats->{destroyed}, 1,
        'a transaction waiting for the gate: destroyed, not cleaned' );
    isa_ok( FIORTest::failure_of($queued), ['Future::IO::Redis::Error'], 'it failed' );
    is( $mon->exists($key)->get, 0, 'and never ran' );
    $pool->shutdown;
};

subtest 'finding 5: a client that cannot be made fails acquire, not dies' => sub {
    my $dir = tempdir( CLEANUP => 1 );
    my $ca  = "$dir/ca.pem";
    open my $fh, '>', $ca or die "$ca: $!";
    print {$fh} "not a certificate\n";
    close $fh;
    my %tls  = ( host => $srv->{host}, port => $srv->{port}, tls => { ca_file => $ca } );
    my $pool = Future::IO::Redis::Pool->new( %tls, min => 0, max => 2, acquire_timeout => 5 );
    my $min1 = Future::IO::Redis::Pool->new( %tls, min => 1, max => 2, acquire_timeout => 5 );
    unlink $ca or die "unlink $ca: $!";

    my $f = eval { $pool->acquire };
    ok( $f, 'acquire returns a future' ) or diag($@);
    my $err = $f && FIORTest::failure_of( ready_within( $f, 1 ) );
    isa_ok( $err, ['Future::IO::Redis::Error'], 'which fails with an error object' );
    like( "$err", qr/ca_file/, '... saying why' );
    is(
        $pool->stats,
        { active => 0, idle => 0, waiting => 0, total => 0, destroyed => 0 },
        'nobody left in line, nothing counted'
    );

    $f = eval { $min1->acquire };
    ok( $f, 'min 1: acquire returns a future' ) or diag($@);
    isa_ok(
        $f && FIORTest::failure_of( ready_within( $f, 1 ) ),
        ['Future::IO::Redis::Error'],
        'min 1: which fails'
    );
    $f = eval { $min1->warm };
    ok( $f, 'warm returns a future' ) or diag($@);
    isa_ok(
        $f && FIORTest::failure_of( ready_within( $f, 1 ) ),
        ['Future::IO::Redis::Error'],
        'which fails'
    );
    is( $min1->stats->{waiting}, 0, 'nobody in line' );
};

subtest 'nit: a plain with() callback yields its list' => sub {
    my $pool = new_pool();
    is( [ $pool->with( sub { return ( 7, 8, 9 ) } )->get ], [ 7, 8, 9 ], 'the whole list' );
    is( [ $pool->with( sub { return () } )->get ],          [],          'an empty list' );
    is( [ $pool->with( sub { 'one' } )->get ],              ['one'],     'one value' );
    is( $pool->stats->{active},                             0,           'released each time' );
    $pool->shutdown;
};

subtest 'nit: nested with() on a pool of max 1' => sub {
    my $pool  = new_pool( acquire_timeout => 0.3 );
    my $inner = 0;
    my $f     = $pool->with(
        async sub {
            await $pool->with( async sub { $inner++ } );
        }
    );
    my $err = FIORTest::failure_of( ready_within( $f, 3 ) );
    isa_ok( $err, ['Future::IO::Redis::Error::Timeout'], 'fails after acquire_timeout' );
    is( $inner,                 0, 'the inner callback never ran' );
    is( $pool->stats->{active}, 0, 'the outer connection is back' );
    $pool->shutdown;

    my $pod = do { local ( @ARGV, $/ ) = $INC{'Future/IO/Redis/Pool.pm'}; <> };
    like(
        $pod,
        qr/C<with>\s+or\s+L<\/acquire>\s+inside\s+a\s+C<with>\s+callback.*?C<max>\s+1.*?deadlock.*?C<acquire_timeout>/s,
        'the POD says so'
    );
};

subtest 'nit: back up to min after a destroy' => sub {
    my $name = unique_name();
    my $pool = new_pool( client_name => $name, min => 2, max => 2 );
    $pool->warm->get;
    my $r = $pool->acquire->get;
    $r->multi_start->get;
    $pool->release($r);
    is( $pool->stats->{destroyed}, 1, 'destroyed' );
    ok( FIORTest::eventually( sub { $pool->stats->{idle} == 2 } ),
        'two idle again, without an acquire' )
        or diag( join " ", %{ $pool->stats } );
    ok( FIORTest::eventually( sub { server_count($name) == 2 } ), 'two on the server' );
    $pool->shutdown;
};

subtest 'nit: a dropped pool is not kept alive by work in progress' => sub {

    # Being cleaned: its command blocks for 3s, cleanup_timeout is longer.
    my $name = unique_name();
    my $pool = new_pool(
        client_name     => $name,
        on_dirty        => 'cleanup',
        cleanup_timeout => 10
    );
    my $r       = $pool->acquire->get;
    my $blocked = $r->command( 'BLPOP', "$base:never:3", 3 );
    $pool->release($r);
    undef $r;
    is( $pool->stats->{total}, 1, 'one being cleaned' );
    weaken( my $weak = $pool );
    undef $pool;
    ok( !$weak, 'cleaning: the pool is freed at once' );
    isa_ok(
        FIORTest::failure_of( ready_within( $blocked, 1 ) ),
        ['Future::IO::Redis::Error'],
        'cleaning: the connection was closed'
    );
    ok( FIORTest::eventually( sub { server_count($name) == 0 } ),
        'cleaning: gone from the server' );

    # Being opened.
    $name = unique_name();
    $pool = new_pool( client_name => $name );
    $pool->acquire->cancel;
    is( $pool->stats->{total}, 1, 'one being opened' );
    weaken( $weak = $pool );
    undef $pool;
    ok( !$weak, 'opening: the pool is freed at once' );
    pause(0.2);
    ok( FIORTest::eventually( sub { server_count($name) == 0 } ),
        'opening: nothing left on the server' );

    # Being checked (idle longer than PING_AFTER).
    $name = unique_name();
    $pool = new_pool( client_name => $name, min => 0 );
    $pool->release( $pool->acquire->get );
    pause( Future::IO::Redis::Pool::PING_AFTER + 0.1 );
    $pool->acquire->cancel;
    is( $pool->stats->{total}, 1, 'one being checked' );
    weaken( $weak = $pool );
    undef $pool;
    ok( !$weak, 'checking: the pool is freed at once' );
    ok( FIORTest::eventually( sub { server_count($name) == 0 } ),
        'checking: gone from the server' );
};

subtest 'nit: clients remembered across forks are forgotten once gone' => sub {

    # (A fork is what the pool sees when its pid is not the process's.)
    my $pool = new_pool( max => 3 );
    my @held = map { $pool->acquire->get } 1 .. 2;
    $pool->{_pid} = -1;
    is( $pool->stats->{total},                0, 'after a "fork": nothing of the old' );
    is( scalar keys %{ $pool->{_forgotten} }, 2, 'the two held are remembered' );
    ok( no_warnings { $pool->release( $held[0] ) }, 'releasing one is quiet' );
    $_->disconnect for @held;
    @held = ();
    my $new = $pool->acquire->get;
    $pool->{_pid} = -1;
    $pool->stats;
    is(
        [ values %{ $pool->{_forgotten} } ],
        [ exact_ref($new) ],
        'only the one still alive is remembered'
    );
    $new->disconnect;
    $pool->shutdown;
};

$mon->disconnect;
done_testing;
