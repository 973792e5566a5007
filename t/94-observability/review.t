# Regression tests for the fixes of a review of the observability code
# (commit 2cb3168), one subtest per bug; each failed before the fix.
#
# An ACL SETUSER rule the server refuses (<password that is not there,
# #badhash, a selector with a password) on a private server: the secret is
# in no debug line, span attribute, status or exception, nor in the
# caller's error (which shows <[REDACTED]). Redaction covers every CONFIG
# SET pair and tls-*-pass, HELLO AUTH with one word and ACL selectors, in
# the format functions and with otel_redact => 0; an ACL password with a
# space, parentheses or an apostrophe is redacted whole (this one fails
# after the fix too: found while writing these tests). A server error that
# quotes a value (unknown command, unknown subcommand, unknown ACL
# category, refused ACL rule) is logged and put in spans with '?', while
# messages with apostrophes (the client's refusal of HELLO, a script's
# error) stay as they are. An EXECABORT transaction is an error in its
# span, metrics and log. An argument whose stringification dies (command,
# auto_pipeline, pipeline, multi) leaves no span unended and is counted. A
# dying debug logger is reported once per client. Keys are logged on one
# line (control bytes as \xNN), UTF-8 keys without "Wide character", long
# keys cut after 256 bytes. Telemetry's user code sees the client's new
# state (is_connected) for "connected" and "disconnected", also when it
# runs the loop and the connection drops meanwhile. disconnect in a forked
# child leaves the parent's connection and telemetry alone. A debug logger
# that runs the loop during the handshake leaves no handshake span open.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO;
use Future::IO::Redis;
use Future::IO::Redis::Telemetry;
use IO::Handle;
use File::Temp qw(tempfile);
use lib 't/lib';
use FIORTest;
use FIORServer;
use FIORTelemetry;

alarm 60;    # a hang fails the file instead

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A client with a fresh tracer, meter and debug log (lines without the
# direction) of its own; connected, with what the handshake left cleared.
sub observed {
    my (%opt)  = @_;
    my $tracer = FIORTelemetry::Tracer->new;
    my $meter  = FIORTelemetry::Meter->new;
    my @log;
    my $redis = Future::IO::Redis->new(
        %$srv,
        otel_tracer => $tracer,
        otel_meter  => $meter,
        debug       => sub { push @log, $_[1] },
        %opt,
    );
    $redis->connect->get;
    $tracer->clear;
    $meter->clear;
    @log = ();
    return ( $redis, $tracer, $meter, \@log );
}

# The same on a private server.
sub observed_on {
    my ( $server, %opt ) = @_;
    return observed( host => '127.0.0.1', port => $server->port, %opt );
}

# Everything captured, as strings, with the secrets that show up in it.
sub leaks {
    my ( $things, @secrets ) = @_;
    my @all = FIORTelemetry::strings_of(@$things);
    return [
        grep {
            my $s = $_;
            grep { index( $_, $s ) >= 0 } @all
        } @secrets
    ];
}

sub errors_total {
    my ($meter) = @_;
    my $counter = $meter->counter('redis.errors.total') or return 0;
    return $counter->value;
}

sub commands_total {
    my ( $meter, $command ) = @_;
    my $counter = $meter->counter('redis.commands.total') or return 0;
    return $counter->sum( command => $command );
}

# An object whose stringification dies.
package Boom {
    use overload '""' => sub { die "cannot stringify\n" }, fallback => 1;
    sub new { bless {}, shift }
}

package main;

subtest 'a refused ACL SETUSER rule: its secret shows nowhere' => sub {
    my $server = FIORServer->new;
    my %secret = map { $_ => "S3cr3t$_$$" } qw(Removed Hash Selector);
    my @rules  = (
        [ 'default',        "<$secret{Removed}",    '<[REDACTED]' ],  # a password that is not there
        [ "fior-review-$$", "#$secret{Hash}",       '#[REDACTED]' ],  # not a 64-character hash
        [ "fior-review-$$", "(>$secret{Selector})", '(>[REDACTED])' ],    # a selector
    );
    for my $redact ( 1, 0 ) {
        my ( $redis, $tracer, $meter, $log ) = observed_on( $server, otel_redact => $redact );
        my @errors;
        for my $rule (@rules) {
            my ( $user, $word, $shown ) = @$rule;
            my $f     = $redis->command( 'ACL', 'SETUSER', $user, $word );
            my $error = FIORTest::failure_of($f);
            isa_ok(
                $error,
                ['Future::IO::Redis::Error::Redis'],
                "otel_redact $redact: $word refused"
            );
            my $message = ref $error ? $error->message : "$error";
            push @errors, $message, "$error";
            like(
                $message,
                qr/modifier '\Q$shown\E'/,
                "otel_redact $redact: the caller's error shows $shown"
            );
        }
        my @spans = $tracer->named('ACL');
        is( scalar @spans, 3, "otel_redact $redact: three ACL spans" );
        is(
            [ map { $_->status && $_->status->{code} } @spans ],
            [ ('error') x 3 ],
            '... each with error status'
        );
        is( [ map { scalar @{ $_->{exceptions} } } @spans ], [ 1, 1, 1 ], '... and an exception' );
        ok( scalar( grep { /^\[REDIS ERROR\] ACL SETUSER/ } @$log ) == 3, '... each logged' )
            or diag join "\n", @$log;
        is( leaks( [ $tracer, $meter, $log, \@errors ], values %secret ),
            [], "otel_redact $redact: no secret in logs, spans, metrics or errors" )
            or diag join "\n", @$log, @errors;
        $redis->disconnect;
    }
};

subtest 'redaction: CONFIG SET pairs, tls-*-pass, HELLO AUTH with one word, ACL selectors' => sub {
    my %pw    = map { $_ => "P4ss$_$$" } qw(require tlskey hello selector user);
    my @cases = (
        [
            [ 'CONFIG', 'SET', 'maxmemory', '1gb', 'requirepass', $pw{require} ],
            'CONFIG SET maxmemory 1gb requirepass [REDACTED]'
        ],
        [
            [ 'CONFIG', 'SET', 'tls-key-file-pass', $pw{tlskey} ],
            'CONFIG SET tls-key-file-pass [REDACTED]'
        ],
        [ [ 'HELLO', 3, 'AUTH', $pw{hello} ], 'HELLO 3 AUTH [REDACTED]' ],
        [
            [ 'ACL', 'SETUSER', 'someone', 'on', ">$pw{user}", "(>$pw{selector} ~k*)" ],
            'ACL SETUSER someone on >[REDACTED] (>[REDACTED] ~k*)'
        ],
    );
    for my $case (@cases) {
        my ( $cmd, $want ) = @$case;
        is( Future::IO::Redis::Telemetry::format_command_for_log(@$cmd),
            $want, "format_command_for_log: $want" );
        is( Future::IO::Redis::Telemetry::format_command_for_span( 1, 1, @$cmd ),
            $want, '... format_command_for_span' );
        my $sanitized = Future::IO::Redis::Telemetry::format_command_sanitized(@$cmd);
        like( $sanitized, qr/\[REDACTED\]/, "... format_command_sanitized: $sanitized" );
        is( leaks( [$sanitized], values %pw ), [], '... without the secret' );
    }

    # On a private server, where these may run: the spans show the values
    # (otel_redact => 0), never the secrets.
    my $server = FIORServer->new;
    my ( $redis, $tracer, $meter, $log ) = observed_on( $server, otel_redact => 0 );
    my $user = "fior-review-$$";
    is( $redis->command( 'CONFIG', 'SET', 'maxmemory', '1gb', 'requirepass', $pw{require} )->get,
        'OK', 'CONFIG SET maxmemory 1gb requirepass ...' );
    is( $redis->command( 'CONFIG', 'SET', 'tls-key-file-pass', $pw{tlskey} )->get,
        'OK', 'CONFIG SET tls-key-file-pass ...' );
    my $hello = FIORTest::failure_of( $redis->command( 'HELLO', 3, 'AUTH', $pw{hello} ) );
    like( "$hello", qr/HELLO would undo/, 'HELLO 3 AUTH ... (refused by the client)' );
    is( $redis->command( 'ACL', 'SETUSER', $user, 'on', ">$pw{user}", '(~k* +get)' )->get,
        'OK', 'ACL SETUSER with a password and a selector' );
    ok(
        FIORTest::failure_of( $redis->command( 'ACL', 'SETUSER', $user, "(>$pw{selector} ~k*)" ) ),
        'ACL SETUSER with a password in a selector (refused by the server)'
    );
    is(
        [ map { $_->attributes->{'db.statement'} } $tracer->spans ],
        [
            'CONFIG SET maxmemory 1gb requirepass [REDACTED]',
            'CONFIG SET tls-key-file-pass [REDACTED]',
            'HELLO 3 AUTH [REDACTED]',
            "ACL SETUSER $user on >[REDACTED] (~k* +get)",
            "ACL SETUSER $user (>[REDACTED] ~k*)",
        ],
        'the statements: values shown, secrets [REDACTED]'
    );
    is( leaks( [ $tracer, $meter, $log ], values %pw ), [], 'no secret in logs, spans, metrics' )
        or diag join "\n", @$log;
    is( $redis->command( 'CONFIG', 'SET', 'requirepass', '' )->get, 'OK', '(requirepass reset)' );
    $redis->disconnect;
};

# (Found while writing these tests: redact_acl_rule stops at a space or a
# parenthesis, so the rest of such a password showed; and the caller's
# error of a refused rule showed what followed an apostrophe in it. Before
# 2cb3168 the whole rule was redacted, though a refused rule's error
# showed it whole.)
subtest 'an ACL password with a space, parentheses or an apostrophe is redacted whole' => sub {
    my %secret = map { $_ => "$_$$" } qw(Sp4ce P4ren Ap0s Gone);
    my @rules  = ( ">my $secret{Sp4ce}", ">pw($secret{P4ren})" );
    for my $rule (@rules) {
        is(
            Future::IO::Redis::Telemetry::format_command_for_log( 'ACL', 'SETUSER', 'u', $rule ),
            'ACL SETUSER u >[REDACTED]',
            "format_command_for_log: $rule"
        );
        is(
            Future::IO::Redis::Telemetry::format_command_sanitized( 'ACL', 'SETUSER', 'u', $rule ),
            'ACL SETUSER ? >[REDACTED]',
            '... format_command_sanitized'
        );
    }

    my $server = FIORServer->new;
    my ( $redis, $tracer, $meter, $log ) = observed_on( $server, otel_redact => 0 );
    my $user = "fior-review-$$";
    is( $redis->command( 'ACL', 'SETUSER', $user, 'on', @rules )->get,
        'OK', 'ACL SETUSER with such passwords' );
    my @errors;
    for my $rule ( "<gone $secret{Gone}", "<it's-$secret{Ap0s}" ) {
        my $error = FIORTest::failure_of( $redis->command( 'ACL', 'SETUSER', $user, $rule ) );
        ok( $error, "ACL SETUSER $user $rule: refused" );
        push @errors, ref $error ? $error->message : "$error";
    }
    is( $redis->command( 'AUTH', $user, "my $secret{Sp4ce}" )->get,
        'OK', 'AUTH with the one with a space' );
    is( leaks( [ $tracer, $meter, $log ], values %secret ),
        [], 'no part of a password in logs, spans, metrics' )
        or diag join "\n", @$log, map { $_->attributes->{'db.statement'} } $tracer->spans;
    is( leaks( \@errors, values %secret ), [], "... nor in the caller's errors" )
        or diag join "\n", @errors;
    $redis->disconnect;
};

subtest "server errors: quoted values logged as '?', apostrophes kept" => sub {
    my ( $redis, $tracer, $meter, $log ) = observed();
    my $value = "V4lue$$";
    my @cases = (
        [ [ 'FIORNOSUCH', "arg$value" ], qr/ERR unknown command '\?', with args beginning with: / ],
        [ [ 'OBJECT',     "sub$value" ], qr/ERR unknown subcommand '\?'/ ],
        [ [ 'ACL', 'CAT', "cat$value" ], qr/ERR Unknown category '\?'/ ],
    );
    for my $case (@cases) {
        my ( $cmd, $want ) = @$case;
        my $error = FIORTest::failure_of( $redis->command(@$cmd) );
        like( "$error", qr/\Q$value\E/, "$cmd->[0]: the caller's error quotes the value" );
    }
    my @spans = $tracer->spans;
    is( scalar @spans, 3, 'three spans' );
    my @errors = grep { /^\[REDIS ERROR\]/ } @$log;
    is( scalar @errors, 3, 'three errors logged' ) or diag join "\n", @$log;
    for my $i ( 0 .. $#cases ) {
        my $want = $cases[$i][1];
        like(
            $errors[$i] // '',
            qr/^\[REDIS ERROR\] [^:]*: $want/,
            "logged with '?': " . ( $errors[$i] // '' )
        );
        like( $spans[$i]->status->{message}, $want, '... span status' );
        my $exception = $spans[$i]{exceptions}[0][0];
        like( ref $exception ? $exception->message : $exception, $want, '... exception' );
    }
    is( leaks( [ $tracer, $meter, $log ], $value ), [], 'the value shows nowhere' );

    # ACL SETUSER rules the server refuses (on a private server): it quotes
    # them.
    my $server = FIORServer->new;
    my ( $private, $ptracer, $pmeter, $plog ) = observed_on($server);
    for my $rule ( "<$value", "rule$value" ) {
        ok( FIORTest::failure_of( $private->command( 'ACL', 'SETUSER', 'default', $rule ) ),
            "ACL SETUSER default $rule: refused" );
    }
    is(
        [ grep { /^\[REDIS ERROR\]/ } @$plog ],
        [
            match qr/^\[REDIS ERROR\] ACL SETUSER .*: ERR Error in ACL SETUSER modifier '\?': /,
            match qr/^\[REDIS ERROR\] ACL SETUSER .*: ERR Error in ACL SETUSER modifier '\?': /,
        ],
        "the refused rules logged as '?'"
    ) or diag join "\n", @$plog;
    is(
        [ map { $_->status->{message} } $ptracer->spans ],
        [ match qr/modifier '\?'/, match qr/modifier '\?'/ ],
        '... in the span statuses too'
    );
    is( leaks( [ $ptracer, $pmeter, $plog ], $value ), [], 'the value shows nowhere' );
    $private->disconnect;

    # Apostrophes in a message are not quotes.
    @$log = ();
    $tracer->clear;
    my $refusal = FIORTest::failure_of( $redis->command( 'HELLO', 3 ) );
    like( $refusal->message, qr/connection's setup .* client's back/, 'HELLO refused' );
    my $script   = q{return redis.error_reply("ERR it's the client's fault, can't go on")};
    my $scripted = FIORTest::failure_of( $redis->command( 'EVAL', $script, 0 ) );
    is( $scripted->message, "ERR it's the client's fault, can't go on", "a script's error" );
    is(
        [ grep { /^\[REDIS ERROR\]/ } @$log ],
        [
            match qr/^\[REDIS ERROR\] HELLO [^:]*: \Q${\ $refusal->message }\E\z/,
            match qr/^\[REDIS ERROR\] EVAL [^:]*: \Q${\ $scripted->message }\E\z/,
        ],
        'both logged unchanged'
    );
    is(
        [ map { $_->status->{message} } $tracer->spans ],
        [ $refusal->message, $scripted->message ],
        '... and so are their span statuses'
    );
    $redis->disconnect;
};

subtest 'an EXECABORT transaction is an error' => sub {
    my ( $redis, $tracer, $meter, $log ) = observed();
    my $k     = FIORTest::unique_key('review-execabort');
    my $f     = $redis->multi( async sub { $_[0]->command( 'SET', $k ) } );
    my $error = FIORTest::failure_of($f);
    like( "$error", qr/EXECABORT/, 'the transaction fails with EXECABORT' );
    my ($span) = $tracer->named('MULTI');
    ok( $span, 'a redis.MULTI span' );
    is( $span   && $span->ended, 1, '... ended' );
    is( $span   && $span->status && $span->status->{code}, 'error', '... with error status' );
    like( $span && $span->status && $span->status->{message}, qr/EXECABORT/, '... EXECABORT' );
    is( errors_total($meter),              1, 'counted in redis.errors.total' );
    is( commands_total( $meter, 'MULTI' ), 1, 'counted as MULTI' );
    is(
        [ grep { /^\[REDIS ERROR\]/ } @$log ],
        [ match qr/^\[REDIS ERROR\] MULTI of 1 commands: EXECABORT/ ],
        'logged as an error'
    ) or diag join "\n", @$log;
    is( $redis->exists($k)->get, 0, 'nothing ran' );

    # A transaction that runs (with an error in a slot) is not an error.
    $tracer->clear;
    $meter->clear;
    is(
        $redis->multi( async sub { $_[0]->set( $k, 'v' ); $_[0]->del($k) } )->get,
        [ 'OK', 1 ],
        'a transaction that runs'
    );
    is( [ map { $_->status } $tracer->named('MULTI') ], [undef], '... no error status' );
    is( errors_total($meter),                           0,       '... no error counted' );
    $redis->disconnect;
};

subtest 'an argument whose stringification dies: the span ends, the command counts' => sub {
    my $k = FIORTest::unique_key('review-boom');
    for my $how (qw(command auto_pipeline pipeline multi)) {
        my ( $redis, $tracer, $meter, $log )
            = observed( auto_pipeline => $how eq 'auto_pipeline' ? 1 : 0 );
        my $name = $how eq 'pipeline' ? 'PIPELINE' : $how eq 'multi' ? 'MULTI' : 'SET';
        my $f;
        my $ok = eval {
            if ( $how eq 'pipeline' ) {
                my $p = $redis->pipeline;
                $p->set( $k, Boom->new )->get($k);
                $f = $p->execute;
            }
            elsif ( $how eq 'multi' ) {
                $f = $redis->multi( sub { $_[0]->set( $k, Boom->new ) } );
            }
            else {
                $f = $redis->command( 'SET', $k, Boom->new );
            }
            1;
        };
        my $error = $ok ? FIORTest::failure_of($f) : $@;
        like( $error // '', qr/cannot stringify/, "$how: the command fails (or dies)" );
        is( [ map { $_->name } $tracer->spans ], ["redis.$name"], "$how: one span, redis.$name" );
        is( [ $tracer->unended ],                [],              '... ended' );
        is( [ map { $_->status && $_->status->{code} } $tracer->spans ],
            ['error'], '... with error status' );
        is( commands_total( $meter, $name ), 1, "... counted as $name" );
        is( errors_total($meter),            1, '... an error counted' );
        ok( ( grep { /^\[REDIS ERROR\]/ } @$log ), '... an error logged' ) or diag join "\n", @$log;
        is( $redis->ping->get, 'PONG', '... and the client goes on' );
        $redis->disconnect;
    }
};

subtest 'a dying debug logger is reported once per client' => sub {
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    for my $n ( 1, 2 ) {
        my $redis = Future::IO::Redis->new( %$srv, debug => sub { die "logger $n down\n" } );
        $redis->connect->get;
        is( [ map { $redis->ping->get } 1 .. 100 ], [ ('PONG') x 100 ], "client $n: 100 commands" );
        $redis->disconnect;
    }
    my @told = grep { /debug callback died/ } @warnings;
    is( scalar @told, 2, 'one warning per client' ) or diag scalar(@told) . " warnings";
    like( $told[0] // '', qr/logger 1 down/, '... the first client' );
    like( $told[1] // '', qr/logger 2 down/, '... the second client' );
    is( scalar @warnings, 2, 'nothing else warned' );
};

subtest 'keys are logged on one line of bytes' => sub {
    my $base = FIORTest::unique_key('review-keys');
    my %key  = (
        control => "$base:a\nb\r\x01c\x7f",
        utf8    => "$base:\x{263a}",
        bytes   => "$base:\xff\xfe",
        long    => "$base:" . ( 'k' x 10_000 ),
    );
    my ( $redis, $tracer, $meter, $log ) = observed();
    is( $redis->get( $key{$_} )->get, undef, "GET a $_ key" ) for qw(control utf8 bytes long);
    my @sent = grep { !/^\[REDIS/ } @$log;
    my $cut  = length( $key{long} ) - 256;
    is(
        \@sent,
        [
            "GET $base:a\\x0ab\\x0d\\x01c\\x7f",
            "GET $base:\xe2\x98\xba",
            "GET $base:\\xff\\xfe",
            'GET ' . substr( $key{long}, 0, 256 ) . "...($cut more bytes)",
        ],
        'control bytes and non-UTF-8 as \xNN, UTF-8 as its bytes, 256 bytes of a long key'
    );
    ok( !( grep { utf8::is_utf8($_) } @sent ), 'the lines are bytes' );
    $redis->disconnect;

    # debug => 1 writes them to STDERR: no "Wide character" warning, one
    # line each.
    my ( $fh, $file ) = tempfile( UNLINK => 1 );
    STDERR->flush;
    open my $saved, '>&', \*STDERR or die "dup STDERR: $!";
    open STDERR,    '>',  $file    or die "redirect STDERR: $!";
    STDERR->autoflush(1);
    my $warner = Future::IO::Redis->new( %$srv, debug => 1 );
    eval {
        $warner->connect->get;
        $warner->get( $key{$_} )->get for qw(control utf8);
        $warner->disconnect;
        1;
    } or my $died = $@;
    open STDERR, '>&', $saved or die "restore STDERR: $!";
    is( $died, undef, 'debug => 1: the commands ran' );
    my @written = do { local @ARGV = ($file); <> };
    chomp @written;
    ok( !( grep { /Wide character/ } @written ), 'no "Wide character" warning' )
        or diag join "\n", @written;
    is(
        [ grep { /^\[REDIS SEND\] GET/ } @written ],
        [ "[REDIS SEND] GET $base:a\\x0ab\\x0d\\x01c\\x7f", "[REDIS SEND] GET $base:\xe2\x98\xba" ],
        'each key on its line'
    );
};

subtest 'telemetry sees the client state after the event' => sub {
    my $server = FIORServer->new;
    my $admin  = Future::IO::Redis->new( host => '127.0.0.1', port => $server->port );
    $admin->connect->get;

    my ( $redis, @seen, @callbacks );
    my $meter = FIORTelemetry::Meter->new;
    $redis = Future::IO::Redis->new(
        host          => '127.0.0.1',
        port          => $server->port,
        reconnect     => 0,
        otel_meter    => $meter,
        on_connect    => sub { push @callbacks, 'on_connect ' . $_[0]->is_connected },
        on_disconnect => sub { push @callbacks, "on_disconnect($_[1]) " . $_[0]->is_connected },
        debug         => sub {
            push @seen, "$2 " . $redis->is_connected if $_[1] =~ /^\[REDIS EVENT\] ((\w+))/;
        },
    );
    $redis->connect->get;
    my $id = $redis->command( 'CLIENT', 'ID' )->get;
    is( $admin->command( 'CLIENT', 'KILL', 'ID', $id )->get, 1, 'the connection killed' );
    ok( FIORTest::eventually( sub { !$redis->is_connected } ), 'the client noticed' );
    is(
        \@seen,
        [ 'connected 1', 'disconnected 0' ],
        'the logger saw 1 on connected, 0 on disconnected'
    );
    is(
        \@callbacks,
        [ 'on_connect 1', 'on_disconnect(connection_lost) 0' ],
        'so did the callbacks'
    );
    is( $meter->counter('redis.connections.active')->value, 0, 'the gauge: 0' );

    # A logger that runs the loop while "connected" is logged, and the
    # connection drops meanwhile: the client ends up disconnected.
    my $kill_once = 1;
    my $meter2    = FIORTelemetry::Meter->new;
    my $victim    = Future::IO::Redis->new(
        host        => '127.0.0.1',
        port        => $server->port,
        reconnect   => 0,
        client_name => "fior-review-victim-$$",
        otel_meter  => $meter2,
        debug       => sub {
            return unless $_[1] =~ /EVENT\] connected/ && $kill_once--;
            $admin->command( 'CLIENT', 'KILL', 'SKIPME', 'yes' )->get;
            Future::IO->sleep(0.2)->get;
        },
    );
    $victim->connect->get;
    ok(
        FIORTest::eventually( sub { !$victim->is_connected }, 2 ),
        'a connection lost while "connected" was logged: not connected'
    );
    is( $meter2->counter('redis.connections.active')->value, 0, '... the gauge: 0' );
    $admin->disconnect;
};

subtest 'disconnect in a forked child leaves the parent alone' => sub {
    my @log;
    my @disconnects;
    my $meter = FIORTelemetry::Meter->new;
    my $redis = Future::IO::Redis->new(
        %$srv,
        otel_meter    => $meter,
        debug         => sub { push @log,         $_[1] },
        on_disconnect => sub { push @disconnects, $_[1] },
    );
    $redis->connect->get;
    my $gauge = $meter->counter('redis.connections.active');
    is( $gauge->value, 1, 'parent: connected' );

    my ( $pid, $from_child ) = FIORTest::in_worker(
        sub {
            @log         = ();
            @disconnects = ();
            $redis->disconnect;
            return {
                gauge         => [ map { $_->{value} } grep { $_->{pid} == $$ } $gauge->calls ],
                log           => [@log],
                on_disconnect => [@disconnects],
                connected     => $redis->is_connected,
            };
        },
        10
    );
    my $report = FIORTest::worker_report( $pid, $from_child );
    is( delete $report->{exit_status}, 0, 'the child exited normally' );
    is(
        $report,
        {
            gauge => [],
            log   => [ match qr/^\[REDIS EVENT\] fork_detected: old PID: $$, new PID: \d+\z/ ],
            on_disconnect => [],
            connected     => 0,
        },
        'child: no gauge change, only fork_detected logged, no on_disconnect'
    );
    is( $redis->ping->get,    'PONG', "parent: the connection works" );
    is( $redis->is_connected, 1,      '... connected' );
    is( $gauge->value,        1,      '... the gauge: 1' );
    is( \@disconnects,        [],     '... no on_disconnect' );
    $redis->disconnect;
    is( $gauge->value, 0, 'parent: disconnected, the gauge: 0' );
};

subtest 'a re-entrant debug logger during the handshake: no handshake span left open' => sub {
    my $shipper = Future::IO::Redis->new(%$srv);
    $shipper->connect->get;
    my %runs = (
        'loop_once(0)'         => sub { $loop->loop_once(0) },
        'sleep(0)->get'        => sub { Future::IO->sleep(0)->get },
        'another client ->get' => sub { $shipper->ping->get },
    );
    for my $how ( sort keys %runs ) {
        for my $round ( 1 .. 5 ) {
            my $tracer = FIORTelemetry::Tracer->new;
            my $redis  = Future::IO::Redis->new(
                %$srv,
                client_name => "fior-review-$$",
                otel_tracer => $tracer,
                debug       => $runs{$how},
            );
            $redis->connect->get;
            ok( $redis->is_connected, "$how, round $round: connected" );
            is( scalar( $tracer->named('CLIENT') ),    3,  '... three handshake spans' );
            is( [ map { $_->name } $tracer->unended ], [], '... all ended' );
            is( [ map { $_->status } $tracer->spans ], [ (undef) x 3 ], '... without error' );
            $redis->disconnect;
        }
    }
    $shipper->disconnect;
};

done_testing;
