# Values and secrets never reach what observability captures. Sessions on
# the password server (the default user's password under RESP2, the ACL
# user under RESP3 with HELLO 3 AUTH, the default user under RESP3 with
# auto_pipeline, the ACL user given in a URI) put distinctive values in
# SET, HSET (field and value), LPUSH, ZADD, a pipeline, a multi()
# transaction, a watch_multi (whose reads return a secret), EVAL (script and
# argument), PUBLISH and a pub/sub message, an unknown command (whose error
# quotes its argument) and a failing INCR of a secret; clients with a wrong
# password fail to connect; on a private server AUTH, ACL SETUSER, CONFIG
# SET requirepass and MIGRATE AUTH2 run, and the AUTH is replayed after
# the connection is killed. Everything captured - debug lines (code
# reference), debug warnings (debug => 1), spans of a duck-typed and of an
# OpenTelemetry tracer (names, kinds, attributes, statuses, recorded
# exceptions as they stringify and every field of them), metric names and
# labels - is then searched for every value and password: none may appear.
# So that this cannot pass on nothing: AUTH and HELLO show [REDACTED],
# keys are shown, each sink captured plenty, each command has its span, and
# the format functions redact CONFIG SET requirepass, AUTH, HELLO, MIGRATE
# and ACL SETUSER.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::Telemetry;
use lib 't/lib';
use FIORTest;
use FIORServer;
use FIORTelemetry;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $auth = FIORTest::server('auth');

# Every value secret contains $MARK, every password $PW_MARK: a match of
# the mark alone (in any case) is a leak too.
my $MARK    = 'S3cr3tV4lue';
my $PW_MARK = 'P4ssw0rdX';
my $serial  = 0;
my ( @secrets, @passwords );

sub secret {
    my ($what) = @_;
    my $s = "$MARK-$what-$$-" . ++$serial;
    push @secrets, $s;
    return $s;
}

sub password {
    my ($what) = @_;
    my $s = "$PW_MARK-$what-$$-" . ++$serial;
    push @passwords, $s;
    return $s;
}

# The servers' passwords (random hex).
push @passwords, $auth->{password}, $auth->{acl_password};

# What is captured.
my @lines;        # debug => sub: "$direction $line"
my @warned;       # debug => 1
my @formatted;    # what the format functions gave
my $duck       = FIORTelemetry::Tracer->new;
my $uri_tracer = FIORTelemetry::Tracer->new;
my $otel       = FIORTelemetry::RealishTracer->new;
my $meter      = FIORTelemetry::Meter->new;
my $logger     = sub { push @lines, "$_[0] $_[1]" };

# Connection errors the callers got (a password must not be in them).
my @connect_errors;

# Publishes, unobserved.
my $publisher = Future::IO::Redis->new(
    host     => $auth->{host},
    port     => $auth->{port},
    password => $auth->{password}
);
$publisher->connect->get;

my %key_of;    # session name => its base key

# The commands of one session, with a secret in every value.
sub session {
    my ( $redis, $name ) = @_;
    my $k = $key_of{$name} = FIORTest::unique_key("secrets-$name");
    my %s = map { $_ => secret("$name-$_") }
        qw(set field hash list zset pipe multi watch script arg publish unknown incr message);

    is( $redis->set( "$k:str", $s{set}, 'EX', 60 )->get, 'OK',    "$name: SET" );
    is( $redis->get("$k:str")->get,                      $s{set}, "$name: GET (a secret reply)" );
    is( $redis->hset( "$k:hash", $s{field}, $s{hash} )->get, 1,   "$name: HSET" );
    is( $redis->hgetall("$k:hash")->get,             { $s{field} => $s{hash} }, "$name: HGETALL" );
    is( $redis->lpush( "$k:list", $s{list} )->get,   1,                         "$name: LPUSH" );
    is( $redis->lrange( "$k:list", 0, -1 )->get,     [ $s{list} ],              "$name: LRANGE" );
    is( $redis->zadd( "$k:zset", 1, $s{zset} )->get, 1,                         "$name: ZADD" );
    is( $redis->zrange( "$k:zset", 0, -1 )->get,     [ $s{zset} ],              "$name: ZRANGE" );

    my $p = $redis->pipeline;
    $p->set( "$k:pipe", $s{pipe} )->get("$k:pipe")->incr("$k:pipe");
    my $replies = $p->execute->get;
    is( [ @$replies[ 0, 1 ] ], [ 'OK', $s{pipe} ], "$name: pipeline" );
    isa_ok( $replies->[2], ['Future::IO::Redis::Error::Redis'], "$name: pipeline INCR slot" );

    my $results = $redis->multi(
        sub {
            my ($tx) = @_;
            $tx->set( "$k:multi", $s{multi} );
            $tx->get("$k:multi");
        }
    )->get;
    is( $results, [ 'OK', $s{multi} ], "$name: multi" );

    my $read;
    $results = $redis->watch_multi(
        ["$k:str"],
        sub {
            my ( $tx, $values ) = @_;
            $read = $values->{"$k:str"};
            $tx->set( "$k:watch", $s{watch} );
        }
    )->get;
    is( $results, ['OK'],  "$name: watch_multi" );
    is( $read,    $s{set}, "$name: watch_multi read the secret" );

    is( $redis->eval( "return ARGV[1] -- $s{script}", 1, "$k:str", $s{arg} )->get,
        $s{arg}, "$name: EVAL" );
    is( $redis->publish( "$k:chan", $s{publish} )->get, 0, "$name: PUBLISH" );

    my $error = FIORTest::failure_of( $redis->command( 'FIORNOSUCHCMD', $s{unknown} ) );
    like(
        "$error",
        qr/unknown command.*\Q$s{unknown}\E/,
        "$name: the server's error quotes the argument (so the check below means something)"
    );

    is( $redis->set( "$k:num", $s{incr} )->get, 'OK', "$name: SET a secret" );
    $error = FIORTest::failure_of( $redis->incr("$k:num") );
    isa_ok( $error, ['Future::IO::Redis::Error::Redis'], "$name: INCR of the secret fails" );

    # A message with a secret reaches the observed client.
    my $sub = $redis->subscribe("$k:chan")->get;
    is( $publisher->publish( "$k:chan", $s{message} )->get, 1, "$name: published to it" );
    is(
        FIORTest::next_tuple($sub),
        [ 'message', "$k:chan", undef, $s{message} ],
        "$name: the message arrived"
    );
    $redis->unsubscribe_all->get;

    is( $redis->del( map { "$k:$_" } qw(str hash list zset pipe multi watch num) )->get,
        8, "$name: cleaned up" );
    return;
}

subtest 'password, RESP2, debug => sub, duck-typed tracer' => sub {
    my $redis = Future::IO::Redis->new(
        host        => $auth->{host},
        port        => $auth->{port},
        password    => $auth->{password},
        database    => 2,
        debug       => $logger,
        otel_tracer => $duck,
        otel_meter  => $meter,
    );
    $redis->connect->get;
    session( $redis, 'resp2' );
    $redis->disconnect;
};

subtest 'ACL user, RESP3 (HELLO 3 AUTH), debug => 1, OpenTelemetry tracer' => sub {
    local $SIG{__WARN__} = sub { push @warned, $_[0] };
    my $redis = Future::IO::Redis->new(
        host        => $auth->{host},
        port        => $auth->{port},
        username    => $auth->{acl_user},
        password    => $auth->{acl_password},
        protocol    => 3,
        debug       => 1,
        otel_tracer => $otel,
        otel_meter  => $meter,
    );
    $redis->connect->get;
    session( $redis, 'resp3' );
    $redis->disconnect;
};

subtest 'password, RESP3, auto_pipeline' => sub {
    my $redis = Future::IO::Redis->new(
        host          => $auth->{host},
        port          => $auth->{port},
        password      => $auth->{password},
        protocol      => 3,
        auto_pipeline => 1,
        debug         => $logger,
        otel_tracer   => $duck,
        otel_meter    => $meter,
    );
    $redis->connect->get;
    session( $redis, 'auto' );
    $redis->disconnect;
};

subtest 'ACL user in a URI' => sub {
    my $redis = Future::IO::Redis->new(
        uri   => "redis://$auth->{acl_user}:$auth->{acl_password}\@$auth->{host}:$auth->{port}/3",
        debug => $logger,
        otel_tracer => $uri_tracer,
        otel_meter  => $meter,
    );
    $redis->connect->get;
    my $k  = FIORTest::unique_key('secrets-uri');
    my $sv = secret('uri');
    is( $redis->set( $k, $sv )->get, 'OK', 'SET' );
    is( $redis->get($k)->get,        $sv,  'GET' );
    is( $redis->del($k)->get,        1,    'DEL' );
    my ($auth_span) = $uri_tracer->named('AUTH');
    is(
        $auth_span && $auth_span->attributes->{'db.statement'},
        'AUTH ? [REDACTED]',
        'the handshake AUTH user password, redacted'
    );
    is( scalar $uri_tracer->named('SELECT'), 1, 'the handshake selected the database' );
    my ($get) = $uri_tracer->named('GET');
    is( $get->attributes->{'db.redis.database_index'}, 3,   'spans have the database of the URI' );
    is( $get->attributes->{'net.peer.name'}, $auth->{host}, 'spans name the host, not the URI' );
    $redis->disconnect;
};

subtest 'a wrong password: connect fails, the password shows nowhere' => sub {
    for my $case (
        [ 'password, RESP2', protocol => 2 ],
        [ 'ACL user, RESP3 (HELLO)', protocol => 3, username => $auth->{acl_user} ],
    ) {
        my ( $what, %opt ) = @$case;
        my $wrong = password('wrong');
        my $redis = Future::IO::Redis->new(
            host        => $auth->{host},
            port        => $auth->{port},
            password    => $wrong,
            debug       => $logger,
            otel_tracer => $duck,
            otel_meter  => $meter,
            %opt,
        );
        my $error = FIORTest::failure_of( $redis->connect );
        ok( $error, "$what: connect failed" ) or next;
        like( "$error", qr/WRONGPASS/, "$what: with WRONGPASS" );
        push @connect_errors, $error;

        # A command connects implicitly, and fails the same way.
        $error = FIORTest::failure_of( $redis->get( FIORTest::unique_key('never') ) );
        like( "$error", qr/WRONGPASS/, "$what: a command fails too" );
        push @connect_errors, $error;
        ok( !$redis->is_connected, "$what: not connected" );
    }
    for my $error (@connect_errors) {
        my $text = lc join "\n", FIORTelemetry::strings_of($error);
        my @in   = grep { index( $text, lc $_ ) >= 0 } @passwords;
        is( \@in, [], "no password in the error '$error'" );
    }
    my @failed = grep { ( $_->status // {} )->{code} } $duck->named('AUTH'), $duck->named('HELLO');
    is( scalar @failed,
        4, 'each failed attempt (connect, then the command) has its AUTH or HELLO span in error' );
    is( [ grep { !$_->ended } @failed ], [], '... and are ended' );
};

# AUTH, ACL SETUSER, CONFIG SET requirepass and MIGRATE AUTH2 sent as
# commands (on a private server: they change it), and the AUTH replayed
# after a reconnect.
subtest 'AUTH, ACL SETUSER, CONFIG SET requirepass, MIGRATE AUTH2, reconnect' => sub {
    my $server = FIORServer->new;
    my %pw     = map { $_ => password($_) } qw(user other requirepass);
    my $user   = "fior-secrets-$$";
    my $redis  = Future::IO::Redis->new(
        host            => '127.0.0.1',
        port            => $server->port,
        reconnect       => 1,
        reconnect_delay => 0.01,
        debug           => $logger,
        otel_tracer     => $otel,
        otel_meter      => $meter,
    );
    $redis->connect->get;
    is( $redis->command( 'ACL', 'SETUSER', $user, 'on', ">$pw{user}", '~*', '&*', '+@all' )->get,
        'OK', 'ACL SETUSER with a password' );
    is( $redis->command( 'ACL', 'SETUSER', "$user-2", 'on', ">$pw{other}", "<$pw{other}" )->get,
        'OK', 'ACL SETUSER adding and removing one' );
    is( $redis->command( 'AUTH',   $user, $pw{user} )->get, 'OK', 'AUTH user password' );
    is( $redis->command( 'ACL',    'WHOAMI' )->get, $user, '... as that user' );
    is( $redis->command( 'CONFIG', 'SET', 'requirepass', $pw{requirepass} )->get,
        'OK', 'CONFIG SET requirepass' );

    my $k = FIORTest::unique_key('secrets-migrate');
    $redis->set( $k, secret('migrate') )->get;
    is(
        $redis->command( 'MIGRATE', $auth->{host}, $auth->{port}, $k, 0, 5000, 'COPY', 'AUTH2',
            $auth->{acl_user}, $auth->{acl_password} )->get,
        'OK',
        'MIGRATE ... AUTH2 user password (to the password server)'
    );
    is( $publisher->del($k)->get, 1, 'the key arrived there' );

    my $killer = Future::IO::Redis->new(
        host     => '127.0.0.1',
        port     => $server->port,
        password => $pw{requirepass}
    );
    my $id = $redis->command( 'CLIENT', 'ID' )->get;
    is( $killer->command( 'CLIENT', 'KILL', 'ID', $id )->get, 1, 'connection killed' );
    ok( FIORTest::eventually( sub { !$redis->is_connected } ), 'the client noticed' );
    is( $redis->command( 'ACL', 'WHOAMI' )->get, $user,
        'reconnected as that user (AUTH replayed)' );
    isnt( $redis->command( 'CLIENT', 'ID' )->get, $id, 'on a new connection' );
    my @auth = $otel->named('AUTH');
    is( scalar @auth, 2, 'two AUTH spans: the command and its replay' );
    is(
        [ map { $_->attributes->{'db.statement'} } @auth ],
        [ ('AUTH ? [REDACTED]') x 2 ],
        'both redacted'
    );
    ok( ( grep { $_ eq 'send AUTH ? [REDACTED]' } @lines ) >= 2, 'both logged redacted' );
    my @statements = map { $_->attributes->{'db.statement'} } $otel->spans;
    ok( ( grep { /^CONFIG SET .*\[REDACTED\]$/ } @statements ), 'CONFIG SET requirepass redacted' );
    ok( ( grep { /^MIGRATE .*AUTH2 .*\[REDACTED\]$/ } @statements ), 'MIGRATE AUTH2 redacted' );
    ok( ( grep { /^ACL SETUSER .*>\[REDACTED\] <\[REDACTED\]$/ } @statements ),
        'ACL SETUSER rules redacted' );
    $redis->disconnect;
    $killer->disconnect;
};

subtest 'format functions redact secrets' => sub {
    my $pw       = password('format');
    my @commands = (
        [ 'CONFIG',  'SET', 'requirepass', $pw ],
        [ 'config',  'set', 'MASTERAUTH',  $pw ],
        [ 'AUTH',    $pw ],
        [ 'auth',    'someone', $pw ],
        [ 'HELLO',   3,         'AUTH',    'someone', $pw ],
        [ 'HELLO',   3,         'AUTH',    'someone', $pw, 'SETNAME', 'app' ],
        [ 'MIGRATE', 'h',       6379,      'k',       0,   5000,      'AUTH', $pw ],
        [ 'MIGRATE', 'h',       6379,      '', 0, 5000, 'AUTH2', 'someone', $pw, 'KEYS', 'a', 'b' ],
        [ 'ACL',     'SETUSER', 'someone', 'on', ">$pw", "<$pw", '~*' ],
        [ 'ACL',     'SETUSER', 'someone', '#' . ( 'ab' x 32 ), '!' . ( 'cd' x 32 ) ],
    );
    my %format = (
        format_command_for_log  => \&Future::IO::Redis::Telemetry::format_command_for_log,
        format_command_for_span =>
            sub { Future::IO::Redis::Telemetry::format_command_for_span( 1, 1, @_ ) },
        format_command_sanitized => \&Future::IO::Redis::Telemetry::format_command_sanitized,
    );
    for my $name ( sort keys %format ) {
        for my $cmd (@commands) {
            my $text = $format{$name}->(@$cmd);
            my $what = "$name(" . join( ' ', @$cmd[ 0, 1 ] ) . ')';
            push @formatted, $text;
            like( $text, qr/\[REDACTED\]/, "$what: [REDACTED]" );
            unlike( $text, qr/\Q$pw\E|\Q$PW_MARK\E|abab|cdcd/i, "$what: no secret" );
        }
    }
    is( Future::IO::Redis::Telemetry::format_command_for_span( 1, 0, 'AUTH', $pw ),
        "AUTH $pw", '(otel_redact => 0 shows arguments as given, so the above is meaningful)' );
};

# Each sink, and the strings in it that contain a secret (none).
sub leaks_in {
    my (@strings) = @_;
    my @leaks;
    for my $string (@strings) {
        push @leaks, $string
            if grep { index( lc $string, lc $_ ) >= 0 } @secrets, @passwords, $MARK, $PW_MARK,
            map { substr $_, 0, 12 } $auth->{password}, $auth->{acl_password};
    }
    return \@leaks;
}

subtest 'the captured output is substantial' => sub {
    ok( @lines > 100,      'debug => sub: many lines (' . scalar(@lines) . ')' );
    ok( @warned > 40,      'debug => 1: many warnings (' . scalar(@warned) . ')' );
    ok( $duck->spans > 50, 'duck-typed tracer: many spans (' . scalar( $duck->spans ) . ')' );
    ok( $otel->spans > 30, 'OpenTelemetry tracer: many spans (' . scalar( $otel->spans ) . ')' );
    ok( $meter->counter('redis.commands.total')->count > 60, 'many commands counted' );

    ok( ( grep { $_ eq 'send AUTH [REDACTED]' } @lines ),   'AUTH password logged as [REDACTED]' );
    ok( ( grep { $_ eq 'send AUTH ? [REDACTED]' } @lines ), 'AUTH user password logged redacted' );
    ok( ( grep { $_ eq 'send HELLO ? AUTH ? [REDACTED]' } @lines ), 'HELLO AUTH logged redacted' );
    ok( ( grep { $_ eq "[REDIS SEND] HELLO ? AUTH ? [REDACTED]\n" } @warned ),
        'HELLO AUTH warned redacted' );
    for my $name (qw(resp2 auto)) {
        my $k = $key_of{$name};
        ok( ( grep { $_ eq "send SET $k:str ? EX ?" } @lines ), "$name: keys are logged" );
        ok( ( grep { $_ eq "send   SET $k:pipe ?" } @lines ),   "$name: pipeline commands logged" );
    }
    ok( ( grep { $_ eq "[REDIS SEND] SET $key_of{resp3}:str ? EX ?\n" } @warned ),
        'resp3: keys are warned' );

    for my $case ( [ duck => $duck, 'resp2' ], [ otel => $otel, 'resp3' ] ) {
        my ( $what, $tracer, $name ) = @$case;
        my $k = $key_of{$name};
        for my $command (
            qw(SET GET HSET HGETALL LPUSH LRANGE ZADD ZRANGE PIPELINE MULTI WATCH
            EVAL PUBLISH FIORNOSUCHCMD INCR SUBSCRIBE UNSUBSCRIBE DEL)
        ) {
            my @spans = grep { ( $_->attributes->{'db.statement'} // '' ) =~ /\Q$k\E|^[A-Z ?]+$/ }
                $tracer->named($command);
            ok( @spans, "$what: a redis.$command span" );
            is( [ grep { !$_->ended } @spans ], [], "$what: redis.$command spans ended" );
        }
        my ($unknown) = $tracer->named('FIORNOSUCHCMD');
        like(
            $unknown->status,
            { code => $tracer->isa('OpenTelemetry::Trace::Tracer') ? 2 : 'error' },
            "$what: the unknown command's span failed"
        );
        like( $unknown->status->{message}, qr/unknown command/,
            "$what: with the server's message" );
        is( $unknown->{exceptions} && scalar @{ $unknown->{exceptions} },
            1, "$what: the error recorded as its exception" );
    }
    my ($auth_span) = $duck->named('AUTH');
    is( $auth_span->attributes->{'db.statement'}, 'AUTH [REDACTED]', 'AUTH span redacted' );
    ok( $meter->counter('redis.errors.total')->sum( type => 'Redis' ) >= 8,
        'errors counted by type' );
};

subtest 'no secret anywhere' => sub {
    my %sinks = (
        'debug => sub lines'  => [ FIORTelemetry::strings_of( \@lines ) ],
        'debug => 1 warnings' => [ FIORTelemetry::strings_of( \@warned ) ],
        'duck-typed spans'    => [ FIORTelemetry::strings_of($duck) ],
        'OpenTelemetry spans' => [ FIORTelemetry::strings_of($otel) ],
        'URI client spans'    => [ FIORTelemetry::strings_of($uri_tracer) ],
        'metrics'             => [ FIORTelemetry::strings_of($meter) ],
        'format functions'    => [ FIORTelemetry::strings_of( \@formatted ) ],
    );
    for my $sink ( sort keys %sinks ) {
        ok( @{ $sinks{$sink} } >= 30,
            "$sink: searched " . scalar( @{ $sinks{$sink} } ) . ' strings' );
        is( leaks_in( @{ $sinks{$sink} } ), [], "$sink: no value, secret or password" );
    }

    # (The search finds them where they are.)
    is( scalar @{ leaks_in( "x \U$secrets[0]\E y", $auth->{acl_password} ) },
        2, 'the search itself finds secrets' );
};

$publisher->disconnect;

# otel_redact => 0 is asked for values in spans: they show, secrets do not.
subtest 'otel_redact => 0: values in spans, never the password' => sub {
    my $tracer = FIORTelemetry::Tracer->new;
    my $redis  = Future::IO::Redis->new(
        host        => $auth->{host},
        port        => $auth->{port},
        password    => $auth->{password},
        protocol    => 3,
        otel_tracer => $tracer,
        otel_redact => 0,
    );
    my $key   = FIORTest::unique_key('redact0');
    my $value = "shown-value-$$";
    $redis->set( $key, $value )->get;
    my ($set) = $tracer->named('SET');
    is( $set->{attributes}{'db.statement'}, "SET $key $value", 'the value is in the statement' );
    my ($hello) = $tracer->named('HELLO');
    like(
        $hello->{attributes}{'db.statement'},
        qr/\AHELLO 3 AUTH default \[REDACTED\]/,
        'the handshake password is not'
    );
    is( leaks_in( map { values %{ $_->{attributes} } } $tracer->spans ), [], 'no secret' );
    $redis->del($key)->get;
    $redis->disconnect;
};

# A value where a sub-command goes: the server quotes it back.
subtest 'unknown subcommand: the quoted word is left out' => sub {
    my $tracer = FIORTelemetry::Tracer->new;
    my @log;
    my $redis = Future::IO::Redis->new(
        host        => $auth->{host},
        port        => $auth->{port},
        password    => $auth->{password},
        otel_tracer => $tracer,
        debug       => sub { push @log, $_[1] },
    );
    my $value = secret('subcommand');
    my $error = FIORTest::failure_of( $redis->command( 'CLIENT', $value ) );
    like( $error->message, qr/unknown subcommand/i, 'the server quoted it (the caller sees it)' );
    my ($span) = $tracer->named('CLIENT');
    ok( $span && @{ $span->{statuses} }, 'the CLIENT span failed' );
    is( leaks_in( @log, FIORTelemetry::strings_of( $tracer->spans ) ), [], 'not in logs or spans' );
    ok( ( grep { /unknown subcommand '\?'/ } @log ), 'logged as unknown subcommand \'?\'' );
    $redis->disconnect;
};

done_testing;
