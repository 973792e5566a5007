# Dirty connections given back to a Future::IO::Redis::Pool. With on_dirty
# => 'destroy' (the default) a connection released inside MULTI, with a
# WATCH in force, with commands in flight, subscribed (pub/sub) or switched
# to another database is closed (stats destroyed, gone from CLIENT LIST) and
# the next user gets a clean, new one (another CLIENT ID; a command on it is
# not QUEUED). With on_dirty => 'cleanup' the same connection (same CLIENT
# ID) comes back clean: MULTI discarded (its queued write never ran), WATCH
# lifted (a later transaction runs although the key changed), in-flight
# replies awaited (they still reach their callers), database selected
# again, unsubscribed; a cleanup that cannot finish within cleanup_timeout,
# or a subscriber that cannot unsubscribe, destroys it. A connection that is
# no longer connected is destroyed either way.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('pooldirty');
my $mon  = Future::IO::Redis->new(%$srv);       # looks at, and writes behind, the pool's back
$mon->connect->get;

my $names = 0;

sub new_pool {
    my (%opt) = @_;
    return Future::IO::Redis::Pool->new(
        %$srv,
        client_name     => "fior-pool-dirty-$$-" . ++$names,
        min             => 1,
        max             => 1,    # the next user gets this connection or its replacement
        acquire_timeout => 10,
        %opt,
    );
}

sub id_of { $_[0]->command( 'CLIENT', 'ID' )->get }

# True once the server has no client with this id (a close takes a moment).
sub gone_from_server {
    my ($id) = @_;
    my $until = $loop->time + 5;
    while ( $loop->time < $until ) {
        my $list = $mon->command( 'CLIENT', 'LIST' )->get;
        return 1 unless $list =~ /(?:^|\s)id=\Q$id\E\s/;
        $loop->delay_future( after => 0.05 )->get;
    }
    return 0;
}

# A client that says it is subscribed (the pub/sub API of the client is
# not involved here): the pool asks is_pubsub and unsubscribe_all.
package PoolTest::Subscribed {
    our @ISA = ('Future::IO::Redis');
    sub is_pubsub { $_[0]{_test_subscribed} ? 1 : 0 }

    sub unsubscribe_all {
        my ($self) = @_;
        $self->{_test_unsubscribed}++;
        $self->{_test_subscribed} = 0;
        return Future::IO::Redis::Bridge::new_future()->done;
    }
}

package PoolTest::StuckSubscriber {
    our @ISA = ('Future::IO::Redis');
    sub is_pubsub { 1 }
    sub can       { $_[1] eq 'unsubscribe_all' ? undef : $_[0]->SUPER::can( $_[1] ) }
}

# Each way of making a connection dirty: gets the acquired client, leaves
# it dirty, and gives a check that runs on the connection served next
# (after a cleanup: the same connection) to prove the state is gone.
my %DIRTY = (
    multi => sub {
        my ( $r, $key ) = @_;
        $r->multi_start->get;
        is( $r->set( $key, 'in multi' )->get, 'QUEUED', 'multi: a command is queued' );
        return sub {
            my ($next) = @_;
            is( $next->in_multi,                    0,    'multi: next user not in MULTI' );
            is( $next->set( "$key:after", 1 )->get, 'OK', 'multi: a command runs, not QUEUED' );
            is( $mon->exists($key)->get,            0,    'multi: the queued write never ran' );
        };
    },
    watch => sub {
        my ( $r, $key ) = @_;
        $r->watch($key)->get;
        ok( $r->watching, 'watch: watching' );
        return sub {
            my ($next) = @_;
            is( $next->watching, 0, 'watch: next user not watching' );

            # A WATCH still in force on the server would abort this EXEC.
            $mon->set( $key, 'changed' )->get;
            $next->multi_start->get;
            $next->set( "$key:after", 1 );
            is( $next->exec->get, ['OK'], 'watch: a later transaction runs: no WATCH left' );
        };
    },
    inflight => sub {
        my ( $r, $key ) = @_;
        my $pending = $r->command( 'BLPOP', $key, '0.3' );
        ok( $r->inflight_count, 'inflight: a command in flight' );
        return sub {
            my ( $next, $cleaned ) = @_;
            is( $next->inflight_count, 0, 'inflight: nothing in flight for the next user' );
            if ($cleaned) {
                ok( $pending->is_ready, 'inflight: the cleanup waited for the reply' );
                is( [ $pending->get ], [undef], '... which reached its caller' );
            }
            else {
                isa_ok(
                    FIORTest::failure_of($pending),
                    ['Future::IO::Redis::Error'],
                    'inflight: the closed connection failed the command'
                );
            }
        };
    },
    database => sub {
        my ( $r, $key ) = @_;
        $r->select(5)->get;
        is( $r->{database}, 5, 'database: switched to 5' );
        return sub {
            my ($next) = @_;
            like( $next->command( 'CLIENT', 'INFO' )->get,
                qr/(?:^|\s)db=0\s/, 'database: next user in database 0' );
            is( $next->{database}, 0, '... and the client knows it' );
        };
    },
    pubsub => sub {
        my ( $r, $key ) = @_;
        bless $r, 'PoolTest::Subscribed';
        $r->{_test_subscribed} = 1;
        return sub {
            my ( $next, $cleaned ) = @_;
            ok( !$next->can('is_pubsub') || !$next->is_pubsub, 'pubsub: next user not subscribed' );
            is( $r->{_test_unsubscribed}, 1, 'pubsub: unsubscribe_all was called' ) if $cleaned;
        };
    },
);

for my $how ( sort keys %DIRTY ) {
    subtest "$how, on_dirty destroy" => sub {
        my $pool  = new_pool();
        my $key   = "$base:$how:destroy";
        my $r     = $pool->acquire->get;
        my $id    = id_of($r);
        my $check = $DIRTY{$how}->( $r, $key );
        $pool->release($r);
        is( $pool->stats->{destroyed}, 1, 'destroyed' );
        ok( !$r->is_connected,     'closed' );
        ok( gone_from_server($id), 'gone from the server' );
        my $next = $pool->acquire->get;
        isnt( id_of($next), $id, 'the next user gets a new connection' );
        $check->( $next, 0 );
        $pool->release($next);
        is( $pool->stats, { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 1 },
            'stats' );
        $pool->shutdown;
        $mon->del( $key, "$key:after" )->get;
    };

    subtest "$how, on_dirty cleanup" => sub {
        my $pool  = new_pool( on_dirty => 'cleanup' );
        my $key   = "$base:$how:cleanup";
        my $r     = $pool->acquire->get;
        my $id    = id_of($r);
        my $check = $DIRTY{$how}->( $r, $key );
        $pool->release($r);
        my $next = $pool->acquire->get;
        is( id_of($next), $id, 'the same connection comes back' );
        ok( $next == $r, '... the same client' );
        $check->( $next, 1 );
        $pool->release($next);
        is(
            $pool->stats,
            { active => 0, idle => 1, waiting => 0, total => 1, destroyed => 0 },
            'nothing destroyed'
        );
        $pool->shutdown;
        $mon->del( $key, "$key:after" )->get;
    };
}

subtest 'cleanup: MULTI not yet confirmed, auto-pipelined commands not yet sent' => sub {
    my $pool   = new_pool( on_dirty => 'cleanup' );
    my $key    = "$base:unconfirmed";
    my $r      = $pool->acquire->get;
    my $id     = id_of($r);
    my $multi  = $r->multi_start;                     # not awaited: in flight
    my $queued = $r->set( $key, 'in multi' );
    $pool->release($r);
    my $next = $pool->acquire->get;
    is( id_of($next),                       $id,                'the same connection comes back' );
    is( [ $multi->get, $queued->get ],      [ 'OK', 'QUEUED' ], 'its callers got their replies' );
    is( $next->in_multi,                    0,                  'not in MULTI' );
    is( $next->set( "$key:after", 1 )->get, 'OK',               'a command runs, not QUEUED' );
    is( $mon->exists($key)->get,            0,                  'the queued write never ran' );
    $pool->release($next);
    $pool->shutdown;

    $pool = new_pool( on_dirty => 'cleanup', auto_pipeline => 1 );
    $r    = $pool->acquire->get;
    $id   = id_of($r);
    my $unsent = $r->command( 'ECHO', 'late' );    # goes at the end of the tick
    $pool->release($r);
    $next = $pool->acquire->get;
    is( id_of($next),              $id,    'auto_pipeline: the same connection' );
    is( $unsent->get,              'late', 'auto_pipeline: the unsent command was waited for' );
    is( $pool->stats->{destroyed}, 0,      'nothing destroyed' );
    $pool->release($next);
    $pool->shutdown;

    $pool   = new_pool( auto_pipeline => 1 );
    $r      = $pool->acquire->get;
    $unsent = $r->command( 'ECHO', 'late' );
    $pool->release($r);
    is( $pool->stats->{destroyed}, 1, 'auto_pipeline, on_dirty destroy: destroyed' );
    $pool->shutdown;
    $mon->del( $key, "$key:after" )->get;
};

subtest 'cleanup that takes longer than cleanup_timeout: destroyed' => sub {
    my $pool    = new_pool( on_dirty => 'cleanup', cleanup_timeout => 0.3 );
    my $r       = $pool->acquire->get;
    my $id      = id_of($r);
    my $blocked = $r->command( 'BLPOP', "$base:never", 0 );                    # waits for ever
    $pool->release($r);
    my $next = $pool->acquire->get;
    isnt( id_of($next), $id, 'a new connection for the next user' );
    is( $pool->stats->{destroyed}, 1, 'the stuck one destroyed' );
    isa_ok( FIORTest::failure_of($blocked), ['Future::IO::Redis::Error'], 'its command failed' );
    ok( gone_from_server($id), 'gone from the server' );
    $pool->release($next);
    $pool->shutdown;
};

subtest 'a subscriber that cannot unsubscribe: destroyed' => sub {
    my $pool = new_pool( on_dirty => 'cleanup' );
    my $r    = $pool->acquire->get;
    my $id   = id_of($r);
    bless $r, 'PoolTest::StuckSubscriber';
    $pool->release($r);
    my $next = $pool->acquire->get;
    isnt( id_of($next), $id, 'a new connection' );
    is( $pool->stats->{destroyed}, 1, 'destroyed' );
    $pool->release($next);
    $pool->shutdown;
};

for my $mode (qw(destroy cleanup)) {
    subtest "not connected on release ($mode): destroyed" => sub {
        my $pool = new_pool( on_dirty => $mode );
        my $r    = $pool->acquire->get;
        $r->disconnect;
        $pool->release($r);
        is( $pool->stats, { active => 0, idle => 0, waiting => 0, total => 0, destroyed => 1 },
            'destroyed' );
        my $next = $pool->acquire->get;
        ok( $next != $r && $next->is_connected, 'a new connected one for the next user' );
        $pool->release($next);
        $pool->shutdown;
    };
}

subtest 'with() leaving the connection dirty' => sub {
    my $pool = new_pool();
    my $id;
    $pool->with(
        async sub {
            my ($r) = @_;
            $id = await $r->command( 'CLIENT', 'ID' );
            await $r->multi_start;
        }
    )->get;
    is( $pool->stats->{destroyed}, 1, 'destroyed on the way back' );
    my $other = $pool->with( async sub { await $_[0]->command( 'CLIENT', 'ID' ) } )->get;
    isnt( $other, $id, 'the next with() got a new one' );

    # Cancelled while its command is in flight: given back dirty.
    my $inside;
    my $f = $pool->with(
        async sub {
            $inside = $_[0];
            await $inside->command( 'BLPOP', "$base:never", 5 );
        }
    );
    my $r_inflight = sub { $inside && $inside->inflight_count };
    my $until      = $loop->time + 5;
    $loop->delay_future( after => 0.02 )->get
        until $pool->stats->{active} && $r_inflight->() || $loop->time > $until;
    ok( $r_inflight->(), 'its command is in flight' );
    $f->cancel;
    is( $pool->stats->{active},    0, 'a cancelled with() gives the connection back' );
    is( $pool->stats->{destroyed}, 2, '... dirty, so destroyed' );
    $pool->shutdown;
};

$mon->disconnect;
done_testing;
