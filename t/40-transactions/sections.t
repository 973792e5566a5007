# How transactions of one client share its connection (its "gate": a WATCH
# section holds it alone), each case a bug that once was: a manual watch
# issued while a watch_multi runs is sent after it and, once it resolves,
# watching is 1; a deferred watch the server refuses gives the gate back (a
# later multi completes); a watch_multi whose transaction has bad input fails
# with Future::IO::Redis::Error naming the first queued command as "multi
# command 0", and sends UNWATCH (a later multi runs although the key was
# written); a watch_multi across a reconnect fails with Error::Connection
# (WATCH is gone with the connection) and never writes its stale value; a
# callback future that is cancelled fails the watch_multi and frees the gate;
# a manual exec that times out clears in_multi and watching (a later multi
# completes), and DISCARD without MULTI fails with ERR leaving watching as it
# was; watch then multi(callback) on one client completes, honours the WATCH
# and ends it; a pipeline holding MULTI ... EXEC issued inside a watch_multi
# callback waits for that section (its EXEC would clear the section's WATCH);
# EXEC, MULTI, WATCH as raw words and execute on the transaction object die
# "already in a transaction" at the caller's line; blocking commands inside
# MULTI do not lift the request_timeout.
use Test2::V0;
use IO::Async::Loop;
use Future::AsyncAwait;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;
use FIORServer;

alarm 240;    # a hang (a section that never ends) fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $base = FIORTest::unique_key('sections');

# A private server for what disturbs a server: CLIENT KILL, DEBUG SLEEP.
my $server = FIORServer->new;
my $priv   = { host => '127.0.0.1', port => $server->port };

# Second clients: write watched keys and look at the servers.
my $other  = Future::IO::Redis->new(%$srv);
my $pother = Future::IO::Redis->new(%$priv);
$loop->await( Future->needs_all( $other->connect, $pother->connect ) )->get;

# What a future gave, comparable: its (first) value, or 'failed: ...' or
# 'pending'.
sub outcome {
    my ($f) = @_;
    return 'pending' unless $f->is_ready;
    return 'failed: ' . $f->failure if $f->is_failed;
    return scalar $f->get;
}

# A fresh client (each case starts with a free gate).
sub client {
    my (%opt) = @_;
    my $redis = Future::IO::Redis->new( %$srv, %opt );
    $redis->connect->get;
    return $redis;
}

subtest 'a manual watch while a watch_multi holds the gate' => sub {
    my $redis = client();
    my ( $k1, $k2 ) = ( "$base:s1:1", "$base:s1:2" );
    my $gate = $loop->new_future;
    my $wm   = $redis->watch_multi( [$k1], sub { $_[0]->set( $k1, 1 ); $gate } );
    my $w    = $redis->watch($k2);
    $loop->delay_future( after => 0.2 )->get;
    ok( !$w->is_ready, 'the watch waits while the section runs' );
    $gate->done;
    ok( FIORTest::ready_within($wm), 'the watch_multi settled' );
    is( outcome($wm), ['OK'], '... and ran undisturbed' );
    ok( FIORTest::ready_within($w), 'the watch settled after it' );
    is( outcome($w),           'OK', '... with OK' );
    is( $redis->watching,      1,    'watching: 1 once it resolved' );
    is( $redis->in_multi,      0,    'in_multi: 0' );
    is( $other->get($k1)->get, '1',  'the section\'s write is there' );

    # The server agrees: a write by another client aborts the transaction.
    $other->set( $k2, 'theirs' )->get;
    my $m = $redis->multi( async sub { $_[0]->set( $k2, 'mine' ) } );
    ok( FIORTest::ready_within($m),      'a transaction after it settled' );
    ok( $m->is_done && !defined $m->get, '... to undef: the server watched the key' )
        or diag( 'got: ' . outcome($m) );
    is( $redis->watching, 0, 'watching: 0 after it' );
    $redis->del( $k1, $k2 )->get;
    $redis->disconnect;
};

subtest 'a deferred watch the server refuses gives the gate back' => sub {
    my $redis = client();
    my ( $k, $n ) = ( "$base:s2:k", "$base:s2:n" );
    my $gate = $loop->new_future;
    my $wm   = $redis->watch_multi( [$k], sub { $gate } );

    # No keys: the server refuses this WATCH (sent once the section is over).
    my $w = $redis->watch();
    $gate->done;
    ok( FIORTest::ready_within($wm), 'the watch_multi settled' );
    is( outcome($wm), [], '... and ran (an empty transaction)' );
    ok( FIORTest::ready_within($w), 'the watch settled' );
    my $err = $w->is_failed ? $w->failure : undef;
    isa_ok( $err, ['Future::IO::Redis::Error::Redis'], 'refused: an Error::Redis' );
    is( ref $err ? $err->type : undef, 'ERR', '... of type ERR' );
    is( $redis->watching,              0,     'not watching' );

    my $m = $redis->multi( async sub { $_[0]->incr($n) } );
    ok( FIORTest::ready_within( $m, 10 ), 'a later multi completes (the gate was given back)' );
    is( outcome($m), [1], '... with its results' );
    my $again = $redis->watch_multi( [$k], async sub { $_[0]->incr($n) } );
    ok( FIORTest::ready_within( $again, 10 ), 'so does a later watch_multi' );
    is( outcome($again), [2], '... with its results' );
    $redis->del( $k, $n )->get;
    $redis->disconnect;
};

subtest 'a watch_multi with bad input sends UNWATCH' => sub {
    my $redis = client();
    my ( $k, $n ) = ( "$base:s3:k", "$base:s3:n" );
    my $f   = $redis->watch_multi( [$k], async sub { $_[0]->set( $k, undef ) } );
    my $err = FIORTest::failure_of($f);
    is( ref $err, 'Future::IO::Redis::Error', 'fails with a Future::IO::Redis::Error' );
    like( "$err", qr/\bmulti command 0\b/, 'naming the first queued command as "multi command 0"' );
    is( $redis->watching, 0, 'not watching' );

    $other->set( $k, 'changed' )->get;    # a stale WATCH would abort the next EXEC
    my $m = $redis->multi( async sub { $_[0]->incr($n) } );
    ok( FIORTest::ready_within($m), 'a later multi settled' );
    is( outcome($m), [1], '... with its results although the key changed: UNWATCH was sent' );
    is( $other->get($k)->get, 'changed', 'the bad transaction wrote nothing' );

    # The same with a bad word later in the transaction.
    $f = $redis->watch_multi( [$k], async sub { $_[0]->incr($n)->set( $k, undef ) } );
    like(
        "" . ( FIORTest::failure_of($f) // '' ),
        qr/\bmulti command 1\b/,
        'the second queued command: "multi command 1"'
    );
    is( $other->get($n)->get, '1', '... nothing of it ran' );
    $redis->del( $k, $n )->get;
    $redis->disconnect;
};

subtest 'a watch_multi across a reconnect' => sub {
    my $redis = Future::IO::Redis->new( %$priv, reconnect => 1, reconnect_delay => 0.01 );
    $redis->connect->get;
    my $k = FIORTest::unique_key('balance');
    $redis->set( $k, 100 )->get;
    my $id = $redis->client_id->get;
    my ( $new_id, $read );
    my $f = $redis->watch_multi(
        [$k],
        async sub {
            my ( $tx, $values ) = @_;
            $read = $values->{$k};
            await $pother->client_kill( 'ID', $id );    # WATCH is gone with the connection
            await $pother->set( $k, 0 );                # someone else spends the balance

            # Until the client is back, on a new connection.
            for my $try ( 1 .. 200 ) {
                $new_id = await $redis->client_id->else_done(undef);
                last if defined $new_id && $new_id != $id;
                await $loop->delay_future( after => 0.05 );
            }
            $tx->set( $k, $values->{$k} - 10 );         # based on the stale read
        }
    );
    ok( FIORTest::ready_within( $f, 20 ), 'settled' );
    is( $read, '100', 'the callback read 100' );
    ok( defined $new_id && $new_id != $id, 'the client reconnected inside the callback' );
    my $err = $f->is_failed ? $f->failure : undef;
    isa_ok( $err, ['Future::IO::Redis::Error::Connection'], 'fails with Error::Connection' )
        or diag( 'got: ' . outcome($f) );
    like( "" . ( $err // '' ), qr/WATCH/, '... saying WATCH is gone' );
    is( $pother->get($k)->get, '0', 'the stale write did not happen' );

    my $again = $redis->watch_multi( [$k], async sub { $_[0]->set( $k, $_[1]{$k} + 5 ) } );
    ok( FIORTest::ready_within($again), 'a retry settled' );
    is( outcome($again),       ['OK'], '... and ran on the new connection' );
    is( $pother->get($k)->get, '5',    '... from the current value' );
    $pother->del($k)->get;
    $redis->disconnect;
};

subtest 'a callback future that is cancelled' => sub {
    my $redis = client();
    my ( $k, $k2 ) = ( "$base:s5:1", "$base:s5:2" );
    my $inner = $loop->new_future;
    my $f     = $redis->watch_multi(
        [$k],
        sub {
            $_[0]->set( $k, 'never' );
            $loop->later( sub { $inner->cancel } );
            return $inner;
        }
    );
    ok( FIORTest::ready_within( $f, 10 ), 'the watch_multi settled' );
    ok( $f->is_failed,                    '... failed' ) or diag( 'got: ' . outcome($f) );
    isa_ok( $f->is_failed ? $f->failure : undef, ['Future::IO::Redis::Error'],
        '... with an error' );
    like( $f->is_failed ? $f->failure : '', qr/cancel/, '... saying the callback was cancelled' );
    is( $other->exists($k)->get, 0, 'nothing was sent' );
    is( $redis->watching,        0, 'not watching' );

    my $next = $redis->watch_multi( [$k2], async sub { $_[0]->incr($k2) } );
    ok( FIORTest::ready_within( $next, 10 ), 'a second watch_multi on the client completes' );
    is( outcome($next), [1], '... with its results' );
    $redis->del( $k, $k2 )->get;
    $redis->disconnect;
};

subtest 'a manual exec that times out; discard without MULTI' => sub {
    my $redis = Future::IO::Redis->new( %$priv, request_timeout => 0.5 );
    $redis->connect->get;
    my ( $k, $n ) = ( FIORTest::unique_key('k'), FIORTest::unique_key('n') );
    $redis->watch($k)->get;
    $redis->multi_start->get;
    is( [ $redis->watching, $redis->in_multi ], [ 1, 1 ], 'watching, in MULTI' );
    is( $redis->incr($n)->get,                  'QUEUED', 'INCR queued' );
    is( $redis->command( 'DEBUG', 'SLEEP', '1.5' )->get,
        'QUEUED', 'DEBUG SLEEP queued (EXEC will outlast request_timeout)' );
    my $e = $redis->exec;
    ok( FIORTest::ready_within( $e, 10 ), 'exec settled' );
    isa_ok(
        $e->is_failed ? $e->failure : undef,
        ['Future::IO::Redis::Error::Timeout'],
        '... with Error::Timeout'
    );
    is(
        [ $redis->watching, $redis->in_multi ],
        [ 0,                0 ],
        'neither watching nor in MULTI (EXEC was on the wire)'
    );

    $pother->ping->get;    # the server is awake again
    my $m = $redis->multi( async sub { $_[0]->incr($n) } );
    ok( FIORTest::ready_within( $m, 10 ), 'a later multi completes' );
    is( outcome($m), [2], '... after the late EXEC ran' );

    FIORTest::redis_error_ok( $redis, $redis->discard, 'ERR', 'DISCARD without MULTI' );
    is( [ $redis->watching, $redis->in_multi ], [ 0, 0 ], '... leaves the flags as they were' );

    $redis->watch($k)->get;
    FIORTest::redis_error_ok( $redis, $redis->discard, 'ERR', 'DISCARD without MULTI, watching' );
    is( [ $redis->watching, $redis->in_multi ], [ 1, 0 ], '... leaves watching at 1' );
    $pother->set( $k, 'theirs' )->get;
    $m = $redis->multi( async sub { $_[0]->set( $k, 'mine' ) } );
    ok( FIORTest::ready_within($m),      'a transaction after it settled' );
    ok( $m->is_done && !defined $m->get, '... to undef: the server still watched the key' )
        or diag( 'got: ' . outcome($m) );
    is( $redis->watching, 0, 'watching: 0 after it' );
    $pother->del( $k, $n )->get;
    $redis->disconnect;
};

subtest 'watch, then multi(callback) on the same client' => sub {
    my $redis = client();
    my $k     = "$base:s7";
    $redis->set( $k, 100 )->get;

    $redis->watch($k)->get;
    my $bal = $redis->get($k)->get;
    $other->set( $k, 50 )->get;    # a write between WATCH and EXEC
    my $m = $redis->multi( async sub { $_[0]->set( $k, $bal - 10 ) } );
    ok( FIORTest::ready_within( $m, 10 ), 'the multi completes (no deadlock)' );
    ok( $m->is_done && !defined $m->get,  '... to undef: it honoured the WATCH' )
        or diag( 'got: ' . outcome($m) );
    is( $other->get($k)->get, '50', '... the other client\'s write stays' );
    is( $redis->watching,     0,    'watching: 0 afterwards' );

    $redis->watch($k)->get;
    $bal = $redis->get($k)->get;
    $m   = $redis->multi( async sub { $_[0]->set( $k, $bal - 10 )->get($k) } );
    ok( FIORTest::ready_within( $m, 10 ), 'without a write in between it completes' );
    is( outcome($m),      [ 'OK', '40' ], '... and runs' );
    is( $redis->watching, 0,              'watching: 0 afterwards' );
    is( $redis->in_multi, 0,              'in_multi: 0' );
    my $wm = $redis->watch_multi( [$k], async sub { $_[0]->incr($k) } );
    ok( FIORTest::ready_within( $wm, 10 ), 'the gate is free: a watch_multi completes' );
    is( outcome($wm), [41], '... and runs' );
    $redis->del($k)->get;
    $redis->disconnect;
};

subtest 'a transactional pipeline issued inside a watch_multi callback' => sub {
    my $redis = client();
    my ( $k, $hits ) = ( "$base:s8:bal", "$base:s8:hits" );
    $redis->set( $k, 100 )->get;
    my ( $pf, $waited );
    my $wm = $redis->watch_multi(
        [$k],
        async sub {
            my ( $tx, $values ) = @_;
            $pf = $redis->pipeline->multi->incr($hits)->exec->execute;
            await $redis->ping;            # the pipeline, sent at once, would have run by now
            await $other->set( $k, 0 );    # another client spends the balance
            $waited = !$pf->is_ready;
            $tx->set( $k, $values->{$k} - 10 );
        }
    );
    ok( FIORTest::ready_within($wm),       'the watch_multi settled' );
    ok( $wm->is_done && !defined $wm->get, '... to undef: its WATCH saw the write' )
        or diag( 'got: ' . outcome($wm) );
    is( $other->get($k)->get, '0', 'the other client\'s write stays' );
    ok( $waited,                     'the pipeline waited while the callback ran' );
    ok( FIORTest::ready_within($pf), 'the pipeline settled afterwards' );
    is( outcome($pf),            [ 'OK', 'QUEUED', [1] ], '... with its results' );
    is( $other->get($hits)->get, '1',                     '... and ran once' );
    $redis->del( $k, $hits )->get;
    $redis->disconnect;
};

subtest 'transaction words on the transaction object' => sub {
    my $redis = client();
    my ( $k, $w ) = ( "$base:s9:k", "$base:s9:w" );
    my %died;
    my $m = $redis->multi(
        sub {
            my ($tx) = @_;
            $tx->incr($k);
            for my $try (
                [ command => 'EXEC' ],
                [ add     => 'MULTI' ],
                [ command => 'watch', $w ],
                ['execute']
            ) {
                my ( $method, @args ) = @$try;
                my $line = __LINE__ + 1;
                my $ok   = eval { $tx->$method(@args); 1 };
                $died{ join ' ', $method, @args } = [ $ok ? 'lived' : "$@", $line ];
            }
            return;
        }
    );
    ok( FIORTest::ready_within($m), 'the multi settled' );
    is(
        [ sort keys %died ],
        [ 'add MULTI', "command EXEC", "command watch $w", 'execute' ],
        'all tried'
    );
    for my $what ( sort keys %died ) {
        my ( $error, $line ) = @{ $died{$what} };
        like( $error, qr/already in a transaction/, "$what: dies 'already in a transaction'" );
        like( $error, qr/ at \Q${\ __FILE__ }\E line $line\.?$/m, "$what: at the caller's line" );
    }
    is( outcome($m),             [1],    'the transaction ran only what was queued' );
    is( $other->get($k)->get,    '1',    '... once' );
    is( $other->exists($w)->get, 0,      'nothing else' );
    is( $redis->watching,        0,      'not watching' );
    is( $redis->ping->get,       'PONG', 'the client is usable' );
    $redis->del($k)->get;
    $redis->disconnect;
};

subtest 'blocking commands inside MULTI keep the request_timeout' => sub {
    my $redis = Future::IO::Redis->new( %$priv, request_timeout => 0.5 );
    $redis->connect->get;
    my $nokey = FIORTest::unique_key('nokey');
    for my $blocking ( [ 'BLPOP', $nokey, 0 ], [ 'BLPOP', $nokey, 30 ] ) {
        my $m = $redis->multi(
            sub {
                $_[0]->command( 'DEBUG', 'SLEEP', '2' )->command(@$blocking);
                return;
            }
        );
        ok( FIORTest::ready_within( $m, 10 ), "[DEBUG SLEEP 2, @$blocking[0,2]]: settled" );
        isa_ok(
            $m->is_failed ? $m->failure : undef,
            ['Future::IO::Redis::Error::Timeout'],
            '... with Error::Timeout'
        ) or diag( 'got: ' . outcome($m) );
        $pother->ping->get;    # the server is awake again
    }
    is( $redis->ping->get, 'PONG', 'the client is usable' );
    $redis->disconnect;
};

is( $other->keys("$base:*")->get, [], 'no key of this file left behind' );
$other->disconnect;
$pother->disconnect;
done_testing;
