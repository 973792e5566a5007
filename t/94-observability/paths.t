# Every path a command can take is observed. A pipeline of N is one span
# redis.PIPELINE (db.operation.batch.size N), one redis.pipeline.size record
# of N, one command counted as PIPELINE, errors in its slots counted, and
# "PIPELINE of N commands" logged; a multi() transaction the same as
# redis.MULTI (without MULTI and EXEC); auto_pipeline commands get a span
# each; subscribe and psubscribe get spans; the handshake gets spans
# (redis.AUTH showing [REDACTED], redis.HELLO under protocol 3,
# redis.SELECT and redis.CLIENT for database and client name), ended when
# connect is done, in error when it fails; refused commands, bad input and
# commands after disconnect get an ended span with error status; a
# cancelled command's span is ended once. redis.connections.active goes +1
# on connect and -1 on disconnect, and on a server-side kill or restart with
# reconnect -1 then +1 again (a failed attempt moves nothing), with
# redis.reconnects.total counting the attempts and "disconnected",
# "reconnecting: attempt 1" and "connected" logged (each outage counting
# from attempt 1); a pool's connections count into the one set of
# instruments its meter made. redis.commands.duration values are the time
# on the wire (DEBUG SLEEP 0.2 takes 200 ms or more), never negative.
# redis.errors.total has type Redis for server errors. A fork while a
# command is in flight: the child does not end the parent's span, the
# parent ends it once the reply comes.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use IO::Handle;
use lib 't/lib';
use FIORTest;
use FIORServer;
use FIORTelemetry;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A client with a fresh tracer, meter and debug log of its own.
sub observed {
    my (%opt)  = @_;
    my $tracer = FIORTelemetry::Tracer->new;
    my $meter  = FIORTelemetry::Meter->new;
    my @log;
    my $redis = Future::IO::Redis->new(
        %$srv,
        otel_tracer => $tracer,
        otel_meter  => $meter,
        debug       => sub { push @log, "$_[0] $_[1]" },
        %opt,
    );
    return ( $redis, $tracer, $meter, \@log );
}

# Names of the spans, in order.
sub span_names {
    [ map { $_->name } $_[0]->spans ]
}

# The labels of each call of a meter's instrument.
sub labels_of {
    my ( $meter, $name ) = @_;
    my $instrument = $meter->instrument($name) or return [];
    return [ map { $_->{labels} } $instrument->calls ];
}

sub gauge_calls {
    my ($meter) = @_;
    my $gauge = $meter->instrument('redis.connections.active') or return [];
    return [ $gauge->values ];
}

# A connected client, its spans, metrics and log cleared.
sub fresh {
    my @all = observed(@_);
    $all[0]->connect->get;
    $all[1]->clear;
    $all[2]->clear;
    @{ $all[3] } = ();
    return @all;
}

subtest 'a pipeline: one span, its size, metrics and log' => sub {
    my ( $redis, $tracer, $meter, $log ) = fresh();
    my $k = FIORTest::unique_key('paths-pipe');
    my $p = $redis->pipeline;
    $p->set( $k, 'v' )->get($k)->incr($k)->lpush( $k, 'x' )->del($k);
    my $replies = $p->execute->get;
    is( [ @$replies[ 0, 1, 4 ] ], [ 'OK', 'v', 1 ], 'the pipeline ran' );
    isa_ok( $_, ['Future::IO::Redis::Error::Redis'], 'an error in its slot' ) for @$replies[ 2, 3 ];

    is( span_names($tracer), ['redis.PIPELINE'], 'one span, redis.PIPELINE, none per command' );
    my ($span) = $tracer->spans;
    my $attr = $span->attributes;
    is( $attr->{'db.operation.batch.size'}, 5,          'db.operation.batch.size 5' );
    is( $attr->{'db.operation'},            'PIPELINE', 'db.operation PIPELINE' );
    is(
        $attr->{'db.statement'},
        join( "\n", "SET $k ?", "GET $k", "INCR $k", "LPUSH $k ?", "DEL $k" ),
        'the statement: one line per command'
    );
    is( $span->ended, 1, 'ended once' );

    is( [ $meter->histogram('redis.pipeline.size')->values ], [5], 'redis.pipeline.size: 5' );
    is(
        labels_of( $meter, 'redis.commands.total' ),
        [ { command => 'PIPELINE' } ],
        'counted once, as PIPELINE'
    );
    is(
        labels_of( $meter, 'redis.commands.duration' ),
        [ { command => 'PIPELINE' } ],
        'its duration, as PIPELINE'
    );
    is(
        labels_of( $meter, 'redis.errors.total' ),
        [ { type => 'Redis' }, { type => 'Redis' } ],
        'the two slot errors counted, type Redis'
    );

    is(
        [ grep { /^send/ } @$log ],
        [
            'send PIPELINE of 5 commands',
            "send   SET $k ?",
            "send   GET $k",
            "send   INCR $k",
            "send   LPUSH $k ?",
            "send   DEL $k",
        ],
        'logged: PIPELINE of 5 commands, and each command'
    );
    like( [ grep { /^recv/ } @$log ], [qr/^recv \[REDIS RECV\] array\[5\] \(/],
        'the reply logged' );
    $redis->disconnect;
};

subtest 'multi: one redis.MULTI span' => sub {
    my ( $redis, $tracer, $meter, $log ) = fresh();
    my $k       = FIORTest::unique_key('paths-multi');
    my $results = $redis->multi(
        sub {
            my ($tx) = @_;
            $tx->set( $k, 'v' );
            $tx->incr($k);
            $tx->del($k);
        }
    )->get;
    is( [ @$results[ 0, 2 ] ], [ 'OK', 1 ], 'the transaction ran' );
    isa_ok( $results->[1], ['Future::IO::Redis::Error::Redis'], 'INCR failed in its slot' );

    is( span_names($tracer), ['redis.MULTI'], 'one span, redis.MULTI' );
    my ($span) = $tracer->spans;
    is( $span->attributes->{'db.operation.batch.size'},
        3, 'batch size 3 (MULTI and EXEC not counted)' );
    is(
        $span->attributes->{'db.statement'},
        "SET $k ?\nINCR $k\nDEL $k",
        'the statement: the commands inside'
    );
    is( $span->ended,                                         1,   'ended once' );
    is( [ $meter->histogram('redis.pipeline.size')->values ], [3], 'redis.pipeline.size: 3' );
    is(
        labels_of( $meter, 'redis.commands.total' ),
        [ { command => 'MULTI' } ],
        'counted as MULTI'
    );
    is(
        labels_of( $meter, 'redis.commands.duration' ),
        [ { command => 'MULTI' } ],
        'its duration, as MULTI (as counted)'
    );
    is( $log->[0], 'send MULTI of 3 commands', 'logged: MULTI of 3 commands' );
    $redis->disconnect;
};

subtest 'auto_pipeline: a span per command' => sub {
    my ( $redis, $tracer, $meter, $log ) = fresh( auto_pipeline => 1 );
    my $k       = FIORTest::unique_key('paths-auto');
    my @ok      = map { $redis->command( 'ECHO', "m$_" ) } 1 .. 10;
    my $bad     = $redis->command( 'SET', $k, undef );
    my $refused = $redis->command( 'SUBSCRIBE', $k );
    Future->wait_all( @ok, $bad, $refused )->get;
    is( [ map { $_->get } @ok ], [ map { "m$_" } 1 .. 10 ], 'the commands ran' );
    ok( $bad->is_failed && $refused->is_failed, 'bad input and a refused command failed' );

    is(
        [ sort @{ span_names($tracer) } ],
        [ ('redis.ECHO') x 10, 'redis.SET', 'redis.SUBSCRIBE' ],
        'a span per command, no batch span'
    );
    is( [ map { $_->ended } $tracer->spans ],          [ (1) x 12 ],     'each ended once' );
    is( [ map { $_->status } $tracer->named('ECHO') ], [ (undef) x 10 ], 'ECHO spans: no status' );
    is(
        [ map { $_->status->{code} } $tracer->named('SET'), $tracer->named('SUBSCRIBE') ],
        [ 'error',                                          'error' ],
        'SET with undef and SUBSCRIBE: error status'
    );
    is( $meter->counter('redis.commands.total')->sum( command => 'ECHO' ), 10, '10 ECHO counted' );
    is( $meter->histogram('redis.pipeline.size')->count, 0,  'no pipeline size recorded' );
    is( scalar( grep { /^send ECHO/ } @$log ),           10, 'each logged' );
    $redis->disconnect;
};

subtest 'subscribe and psubscribe' => sub {
    my ( $redis, $tracer, $meter ) = fresh();
    my $ch  = FIORTest::unique_key('paths-sub');
    my $sub = $redis->subscribe($ch)->get;
    $redis->psubscribe("$ch:*")->get;
    $redis->unsubscribe_all->get;
    ok( $sub->is_closed, 'subscribed and unsubscribed' );
    for my $name (qw(SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE)) {
        my @spans = $tracer->named($name);
        is( scalar @spans, 1, "a redis.$name span" );
        is(
            [ map { [ $_->ended, $_->status ] } @spans ],
            [ [ 1, undef ] ],
            "$name: ended, no error"
        );
    }
    my ($span) = $tracer->named('SUBSCRIBE');
    is( $span->attributes->{'db.operation'}, 'SUBSCRIBE',                          'db.operation' );
    is( $meter->counter('redis.commands.total')->sum( command => 'SUBSCRIBE' ), 1, 'counted' );
    $redis->disconnect;
};

subtest 'the handshake' => sub {
    my $auth = FIORTest::server('auth');
    my ( $redis, $tracer, $meter, $log ) = observed(
        host     => $auth->{host},
        port     => $auth->{port},
        password => $auth->{password}
    );
    $redis->connect->get;
    my @names = @{ span_names($tracer) };
    is( $names[0], 'redis.AUTH', 'password: a redis.AUTH span first' );
    is( ( $tracer->spans )[0]->attributes->{'db.statement'}, 'AUTH [REDACTED]', '... redacted' );
    is( [ map { $_->ended } $tracer->spans ],  [ (1) x @names ],     'every handshake span ended' );
    is( [ map { $_->status } $tracer->spans ], [ (undef) x @names ], '... without error' );
    is( $log->[0],                             'send AUTH [REDACTED]', 'AUTH logged redacted' );
    is(
        $log->[-1],
        "event [REDIS EVENT] connected: $auth->{host}:$auth->{port}",
        'connected logged'
    );
    $redis->disconnect;

    ( $redis, $tracer ) = observed( protocol => 3 );
    $redis->connect->get;
    my ($hello) = $tracer->named('HELLO');
    ok( $hello, 'protocol 3: a redis.HELLO span' );
    is( [ $hello->ended, $hello->attributes->{'db.statement'} ], [ 1, 'HELLO ?' ], '... ended' );
    $redis->disconnect;

    ( $redis, $tracer ) = observed( database => 1, client_name => "fior-paths-$$" );
    $redis->connect->get;
    my ($select) = $tracer->named('SELECT');
    ok( $select, 'database 1: a redis.SELECT span' );
    is( $select->ended, 1, '... ended' );
    is(
        [ map { $_->attributes->{'db.statement'} } $tracer->named('CLIENT') ],
        bag { item 'CLIENT SETNAME ?'; etc() },
        'client_name: CLIENT SETNAME span'
    );
    $redis->disconnect;

    ( $redis, $tracer, $meter, $log ) = observed( database => 100_000 );
    my $error = FIORTest::failure_of( $redis->connect );
    like( "$error", qr/DB index/, 'an impossible database: connect fails' );
    ($select) = $tracer->named('SELECT');
    is( [ $select->ended, $select->status->{code} ], [ 1, 'error' ], 'SELECT span: ended, error' );
    is(
        [ map { $_->ended } $tracer->spans ],
        [ (1) x scalar $tracer->spans ],
        'every span of the attempt ended'
    );
    like( $log->[-1], qr/^error \[REDIS ERROR\] connect: SELECT \?.*DB index/, 'logged' );
    is( labels_of( $meter, 'redis.errors.total' ), [ { type => 'Redis' } ], 'counted as an error' );
    is( gauge_calls($meter),                       [], 'no connection counted' );
};

subtest 'refused commands, bad input, after disconnect' => sub {
    my ( $redis, $tracer, $meter, $log ) = fresh();
    my $k     = FIORTest::unique_key('paths-bad');
    my @cases = (
        [ SUBSCRIBE => [ 'SUBSCRIBE', $k ] ],
        [ HELLO     => [ 'HELLO',     3 ] ],
        [ SET       => [ 'SET',       $k, undef ] ],
    );
    for my $case (@cases) {
        my ( $name, $cmd ) = @$case;
        my $error = FIORTest::failure_of( $redis->command(@$cmd) );
        ok( $error, "$name: failed" );
        my ($span) = $tracer->named($name);
        is( $span && $span->ended, 1, "$name: its span ended" );
        is(
            $span && $span->status,
            { code => 'error', message => "$error" },
            "$name: error status with the message"
        );
        is( $span && scalar @{ $span->{exceptions} }, 1, "$name: the error recorded" );
    }
    my $p = $redis->pipeline;
    $p->get($k)->set( $k, undef );
    my $error = FIORTest::failure_of( $p->execute );
    like( "$error", qr/undef/, 'a pipeline with bad input fails' );
    my ($span) = $tracer->named('PIPELINE');
    is( [ $span->ended, $span->status->{code} ],      [ 1, 'error' ], 'its span: ended, error' );
    is( $meter->counter('redis.errors.total')->count, 4,              'each counted as an error' );
    is( scalar( grep { /^error / } @$log ),           4,              'each logged as an error' );

    $redis->disconnect;
    $error = FIORTest::failure_of( $redis->get($k) );
    isa_ok( $error, ['Future::IO::Redis::Error::Disconnected'], 'GET after disconnect' );
    ($span) = $tracer->named('GET');
    is( [ $span->ended, $span->status->{code} ], [ 1, 'error' ], 'its span: ended, error' );
};

subtest 'a cancelled command' => sub {
    my ( $redis, $tracer, $meter ) = fresh();
    my $f = $redis->blpop( FIORTest::unique_key('paths-cancel'), 0.3 );
    $loop->delay_future( after => 0.05 )->get;
    my ($span) = $tracer->named('BLPOP');
    is( $span->ended, 0, 'in flight: not ended' );
    $f->cancel;
    is( $span->ended,      1,      'cancelled: ended' );
    is( $redis->ping->get, 'PONG', 'the client goes on (the reply came and went)' );
    is( $span->ended,      1,      'ended once, not again when the reply came' );
    is( $meter->counter('redis.commands.total')->sum( command => 'BLPOP' ), 1, 'counted' );
    $redis->disconnect;
};

subtest 'redis.connections.active: connect and disconnect' => sub {
    my ( $redis, $tracer, $meter, $log ) = observed();
    $redis->connect->get;
    is( gauge_calls($meter), [1], 'connect: +1' );
    $redis->disconnect;
    is( gauge_calls($meter), [ 1, -1 ], 'disconnect: -1' );
    $redis->disconnect;
    is( gauge_calls($meter), [ 1, -1 ], 'disconnect again: nothing' );
    $redis->connect->get;
    $redis->connect->get;
    is( gauge_calls($meter), [ 1, -1, 1 ], 'connect again: +1 (once)' );
    $redis->disconnect;
    is( $meter->counter('redis.connections.active')->value, 0, 'back to 0' );
    is(
        [ grep { /^event/ } @$log ],
        [
            "event [REDIS EVENT] connected: $srv->{host}:$srv->{port}",
            'event [REDIS EVENT] disconnected: client_disconnect',
            "event [REDIS EVENT] connected: $srv->{host}:$srv->{port}",
            'event [REDIS EVENT] disconnected: client_disconnect',
        ],
        'connected and disconnected logged'
    );
};

subtest 'a private server: kills, a restart, durations' => sub {
    my $server = FIORServer->new;
    my %at     = ( host => '127.0.0.1', port => $server->port );
    my ( $redis, $tracer, $meter, $log )
        = observed( %at, reconnect => 1, reconnect_delay => 0.02, reconnect_jitter => 0 );
    $redis->connect->get;
    my $killer = Future::IO::Redis->new(%at);
    my $gauge  = $meter->counter('redis.connections.active');

    for my $round ( 1, 2 ) {
        my $id = $redis->command( 'CLIENT', 'ID' )->get;
        is( $killer->command( 'CLIENT', 'KILL', 'ID', $id )->get, 1, "kill $round" );
        ok( FIORTest::eventually( sub { !$redis->is_connected } ), "kill $round: noticed" );
        is( $redis->ping->get, 'PONG', "kill $round: reconnected" );
        is(
            [ $gauge->values ],
            [ 1, map { ( -1, 1 ) } 1 .. $round ],
            "kill $round: the gauge went -1 then +1"
        );
    }
    is( $gauge->value,                                    1, 'one connection' );
    is( $meter->counter('redis.reconnects.total')->value, 2, 'two reconnect attempts counted' );
    is(
        [ grep { /disconnected|reconnecting|connected/ } @$log ],
        [
            "event [REDIS EVENT] connected: 127.0.0.1:$at{port}",
            (
                map {
                    (
                        match(qr/^event \[REDIS EVENT\] disconnected: /),
                        'event [REDIS EVENT] reconnecting: attempt 1',
                        "event [REDIS EVENT] connected: 127.0.0.1:$at{port}",
                    )
                } 1 .. 2
            ),
        ],
        'logged: disconnected, reconnecting (each outage from attempt 1), connected'
    );

    $server->stop;
    ok( FIORTest::eventually( sub { !$redis->is_connected } ), 'server stopped: noticed' );
    ok( FIORTest::eventually( sub { $meter->counter('redis.reconnects.total')->value >= 5 } ),
        'failing attempts counted' );
    is( $gauge->value,                    0,         'while it is down: no connection' );
    is( [ ( $gauge->values )[ -2, -1 ] ], [ 1, -1 ], 'failed attempts moved nothing' );
    ok( $meter->counter('redis.errors.total')->sum( type => 'Connection' ) >= 1,
        'connection errors counted, type Connection' );
    $server->start;
    is( $redis->ping->get, 'PONG', 'restarted: the client is back' );
    is( $gauge->value,     1,      'one connection again' );

    my $durations = $meter->histogram('redis.commands.duration');
    $durations->clear;
    is( $redis->command( 'DEBUG', 'SLEEP', 0.2 )->get, 'OK',   'DEBUG SLEEP 0.2' );
    is( $redis->ping->get,                             'PONG', 'PING' );
    my ( $sleep, $ping ) = $durations->calls;
    is( [ map { $_->{labels}{command} } $sleep, $ping ], [ 'DEBUG', 'PING' ], 'both recorded' );
    ok( $sleep->{value} >= 190 && $sleep->{value} < 5000, "DEBUG SLEEP 0.2: $sleep->{value} ms" );
    ok( $ping->{value} >= 0    && $ping->{value} < 190,   "PING: $ping->{value} ms" );
    $redis->disconnect;
    is( $gauge->value,                         0,  'disconnected: 0' );
    is( [ map { $_->name } $tracer->unended ], [], 'every span ended' );
};

subtest 'durations and error types on the shared server' => sub {
    my ( $redis, $tracer, $meter ) = fresh();
    my $k = FIORTest::unique_key('paths-errors');
    $redis->set( $k, 'text' )->get;
    FIORTest::failure_of( $redis->incr($k) );
    FIORTest::failure_of( $redis->lpush( $k, 'x' ) );
    $redis->get($k)->get for 1 .. 20;
    $redis->del($k)->get;
    is(
        labels_of( $meter, 'redis.errors.total' ),
        [ { type => 'Redis' }, { type => 'Redis' } ],
        'ERR and WRONGTYPE: type Redis'
    );
    my @values = $meter->histogram('redis.commands.duration')->values;
    is( scalar @values,                                 24, 'a duration for each command' );
    is( [ grep { !( $_ >= 0 && $_ < 5000 ) } @values ], [], 'each >= 0 and < 5 s' );
    $redis->disconnect;
};

subtest 'a pool: one set of instruments, the gauge counts its connections' => sub {
    my $meter = FIORTelemetry::Meter->new;
    my $pool  = Future::IO::Redis::Pool->new( %$srv, min => 2, max => 4, otel_meter => $meter );
    $pool->warm->get;
    my $gauge = $meter->counter('redis.connections.active');
    is( $gauge->value, 2, 'warm: 2 connections' );
    my @held = map { $pool->acquire->get } 1 .. 4;
    is( $gauge->value,                   4, 'four acquired: 4' );
    is( $meter->created,                 6, 'the instruments were made once, for all connections' );
    is( $pool->stats->{total},           4, 'the pool has 4' );
    is( [ map { $_->ping->get } @held ], [ ('PONG') x 4 ],                    'each works' );
    is( $meter->counter('redis.commands.total')->sum( command => 'PING' ), 4, 'counted together' );
    $pool->release($_) for @held;
    $pool->shutdown;
    ok( FIORTest::eventually( sub { $gauge->value == 0 } ), 'shutdown: 0' );
    is( scalar( grep { $_ == 1 } $gauge->values ), 4, 'four connections opened' );
};

# A fork while BLPOP (1 s) is in flight: the child does not end the span
# it inherited, even though the inherited future fails there; the parent
# ends it when the reply comes.
subtest 'fork with a command in flight' => sub {
    my ( $redis, $tracer, $meter ) = fresh();
    my $f = $redis->blpop( FIORTest::unique_key('paths-fork'), 1 );
    $loop->delay_future( after => 0.05 )->get;
    my ($span) = $tracer->named('BLPOP');
    is( $span->ended, 0, 'in flight' );

    my ( $pid, $from_child ) = FIORTest::in_worker(
        sub {
            my $ping = $redis->ping->get;
            FIORTest::ready_within( $f, 2 );
            $loop->delay_future( after => 1.2 )->get;    # past the BLPOP's reply
            return {
                ping       => $ping,
                inherited  => $f->is_failed ? 'failed' : $f->is_ready ? 'done' : 'pending',
                span_ended => $span->ended,
                ping_ended => [ map { $_->ended } $tracer->named('PING') ],
                counted    =>
                    [ map { $_->{command} } @{ labels_of( $meter, 'redis.commands.total' ) } ],
            };
        },
        10
    );
    is( $f->get,           undef, 'parent: BLPOP timed out (nil)' );
    is( $span->ended,      1,     'parent: the span ended once the reply came' );
    is( $span->{end_pids}, [$$],  '... in the parent' );
    is( $span->status,     undef, '... without error' );
    my $report = FIORTest::worker_report( $pid, $from_child );
    is( delete $report->{exit_status}, 0, 'the child exited normally' );
    is(
        $report,
        {
            ping       => 'PONG',
            inherited  => 'failed',
            span_ended => 0,
            ping_ended => [1],
            counted    => ['PING'],
        },
        "child: its own PING traced and counted; the parent's BLPOP neither ended nor counted"
    );
    is( $meter->counter('redis.commands.total')->sum( command => 'BLPOP' ), 1, 'parent: counted' );
    is( $redis->ping->get, 'PONG', 'parent: the client goes on' );
    $redis->disconnect;
};

# The tracer, the meter and the logger are the user's code: when they die,
# commands, pipelines, transactions and the connection go on, and the
# failure is reported once.
package DyingTracer {
    sub new         { bless {}, shift }
    sub create_span { die "tracer broke\n" }
}

package DyingInstrument {
    sub new    { bless {}, shift }
    sub add    { die "counter broke\n" }
    sub record { die "histogram broke\n" }
}

package DyingMeter {
    sub new                    { bless {}, shift }
    sub create_counter         { DyingInstrument->new }
    sub create_histogram       { DyingInstrument->new }
    sub create_up_down_counter { DyingInstrument->new }
}

package main;

subtest 'a tracer or meter that dies breaks nothing' => sub {
    for my $broken ( [ otel_tracer => DyingTracer->new ], [ otel_meter => DyingMeter->new ] ) {
        my @warnings;
        local $SIG{__WARN__} = sub { push @warnings, $_[0] };
        my $redis = Future::IO::Redis->new( %$srv, @$broken );
        my $k     = FIORTest::unique_key('paths-dying');
        is( $redis->set( $k, 1 )->get, 'OK', "$broken->[0]: a command works" );
        is( $redis->incr($k)->get,     2,    '... and the next' );
        my $p = $redis->pipeline;
        $p->incr($k)->incr($k);
        is( $p->execute->get,                                    [ 3, 4 ], '... a pipeline' );
        is( $redis->multi( async sub { $_[0]->incr($k) } )->get, [5],      '... a transaction' );
        ok( FIORTest::failure_of( $redis->command( 'HINCRBY', $k, 'f', 1 ) ),
            '... an error reply fails as usual' );
        $redis->del($k)->get;
        $redis->disconnect;
        my @told = grep { /telemetry failed/ } @warnings;
        is( scalar @told, 1, '... reported once' ) or diag "@warnings";
        like( $told[0] // '', qr/broke/, '... with what broke' );
    }
};

done_testing;
