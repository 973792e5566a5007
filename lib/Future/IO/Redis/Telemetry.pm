package Future::IO::Redis::Telemetry;

# Observability for a client: OpenTelemetry spans and metrics, and debug
# logs. Nothing here ever writes a value or a secret: commands are shown
# with their keys and '?' for everything else, credentials as [REDACTED],
# and replies only by their shape.

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Scalar::Util qw(blessed refaddr weaken);
use Time::HiRes  ();

use Future::IO::Redis::KeyExtractor ();

use constant REDACTED => '[REDACTED]';

# The OpenTelemetry SDK's constants (OpenTelemetry::Constants), for a real
# tracer; a duck-typed one gets the plain words the seed uses.
use constant {
    OTEL_SPAN_KIND_CLIENT   => 3,
    OTEL_SPAN_STATUS_ERROR  => 2,
    OTEL_TRACER_CLASS       => 'OpenTelemetry::Trace::Tracer',
    SEMCONV_OPT_IN_VARIABLE => 'OTEL_SEMCONV_STABILITY_OPT_IN',
};

# Commands with secrets among their arguments: each rule gives the
# arguments (after the command name) with the secrets replaced, in place.
our %REDACT_RULES = (
    AUTH => sub {
        my (@args) = @_;
        return (REDACTED)             if @args == 1;    # AUTH password
        return ( $args[0], REDACTED ) if @args >= 2;    # AUTH username password
        return @args;
    },

    # CONFIG SET takes several parameter/value pairs (Redis 7).
    CONFIG => sub {
        my (@args) = @_;
        return @args unless @args >= 3 && uc( $args[0] // '' ) eq 'SET';
        for ( my $i = 1; $i + 1 <= $#args; $i += 2 ) {
            $args[ $i + 1 ] = REDACTED if _is_secret_parameter( $args[$i] );
        }
        return @args;
    },
    MIGRATE => sub {
        my (@args) = @_;
        my @result;
        for ( my $i = 0; $i <= $#args; $i++ ) {
            my $word = uc( $args[$i] // '' );
            if ( $word eq 'AUTH' && defined $args[ $i + 1 ] ) {
                push @result, $args[$i], REDACTED;
                $i++;
            }
            elsif ( $word eq 'AUTH2' && defined $args[ $i + 1 ] && defined $args[ $i + 2 ] ) {
                push @result, $args[$i], $args[ $i + 1 ], REDACTED;
                $i += 2;
            }
            else {
                push @result, $args[$i];
            }
        }
        return @result;
    },

    # HELLO protover AUTH username password: also a malformed AUTH with one
    # word after it (which may be the password).
    HELLO => sub {
        my (@args) = @_;
        my @result;
        for ( my $i = 0; $i <= $#args; $i++ ) {
            if ( uc( $args[$i] // '' ) eq 'AUTH' && defined $args[ $i + 1 ] ) {
                if ( defined $args[ $i + 2 ] ) {
                    push @result, $args[$i], $args[ $i + 1 ], REDACTED;
                    $i += 2;
                }
                else {
                    push @result, $args[$i], REDACTED;
                    $i++;
                }
            }
            else {
                push @result, $args[$i];
            }
        }
        return @result;
    },

    # ACL SETUSER name rules...: >password, <password, #hash and !hash rules
    # hold secrets, also inside a selector: (>password ~key*).
    ACL => sub {
        my (@args) = @_;
        return @args unless @args >= 3 && uc( $args[0] // '' ) eq 'SETUSER';
        return ( @args[ 0, 1 ], map { redact_acl_rule($_) } @args[ 2 .. $#args ] );
    },
);

# CONFIG parameters whose values are credentials.
sub _is_secret_parameter {
    my ($param) = @_;
    return 0 unless defined $param;
    return
        lc($param)
        =~ /\A(?:requirepass|masterauth|masteruser|user|tls-[a-z-]*pass|[a-z-]*password)\z/
        ? 1
        : 0;
}

# An ACL rule with its secrets replaced (also used on the server's errors,
# which quote a refused rule). A password rule is all secret after its
# sign, spaces and all; a selector's rules are separated by spaces.
sub redact_acl_rule {
    my ($rule) = @_;
    return $rule unless defined $rule && !ref $rule;
    return substr( $rule, 0, 1 ) . REDACTED if $rule =~ /\A[><#!]/;
    return $rule =~ s/(\A\(|\s)([><#!])[^\s)]*/$1$2${\REDACTED}/gr if $rule =~ /\A\(/;
    return $rule;
}

# (The span's form with arguments and redaction.)
sub format_command_for_log {
    return format_command_for_span( 1, 1, @_ );
}

sub format_command_for_span {
    my ( $include_args, $redact, @cmd ) = @_;
    return '' unless @cmd;
    my $name = uc( $cmd[0] // '' );
    return $name unless $include_args;
    my @args = @cmd[ 1 .. $#cmd ];
    if ( $redact && ( my $redactor = $REDACT_RULES{$name} ) ) {
        @args = $redactor->(@args);
    }
    return join ' ', $name, map { $_ // '' } @args;
}

# (Works on @_ in place: a value may be 100 MB, and is never copied.)
sub format_command_sanitized {
    return '' unless @_;
    my $name = uc( $_[0] // '' );
    my $last = $#_;                 # the arguments are $_[1] .. $_[$last]

    # What stays: a sub-command's name, the keys, the option words (EX, NX,
    # LIMIT ...), and the redaction marks.
    my %shown;
    my $table = lc $name;

    # (A word the server does not know as a sub-command may be a value.)
    if (   $last >= 1
        && defined $_[1]
        && !ref $_[1]
        && _is_container($name)
        && $Future::IO::Redis::CommandTable::COMMANDS{ lc "$name|$_[1]" } ) {
        $shown{0} = 1;
        $table = lc "$name|$_[1]";
    }
    my $tokens = _tokens_of($table);
    my @keys   = _key_indices( $name, \@_ );
    @shown{@keys} = (1) x @keys;

    # (Only commands with small arguments have rules: AUTH, CONFIG ...)
    my $redactor = $REDACT_RULES{$name};
    my @redacted = $redactor ? $redactor->( @_[ 1 .. $last ] ) : ();
    my @words;
    for my $i ( 0 .. $last - 1 ) {
        my $arg = $_[ $i + 1 ];
        if ( $redactor && _was_redacted( $redacted[$i], $arg ) ) {
            push @words, _printable( $redacted[$i] );
        }
        elsif ( $i == 0 && $table ne lc $name ) {
            push @words, uc $arg;    # the sub-command
        }
        elsif ( $shown{$i} ) {
            push @words, _printable($arg);
        }
        elsif ( %$tokens && defined $arg && !ref $arg && length $arg <= 32 && $tokens->{ uc $arg } )
        {
            push @words, uc $arg;
        }
        else {
            push @words, '?';
        }
    }
    return join ' ', $name, @words;
}

sub _was_redacted {
    my ( $redacted, $arg ) = @_;
    return
           defined $redacted
        && !ref $redacted
        && index( $redacted, REDACTED ) >= 0
        && $redacted ne ( $arg // '' );
}

# The positions of the keys among a command's arguments (counted from 0
# after the name). $cmd is the whole command (passed on as aliases, not
# copied).
sub _key_indices {
    my ( $name, $cmd ) = @_;
    return eval {
        Future::IO::Redis::KeyExtractor::extract_key_indices( $name, @$cmd[ 1 .. $#$cmd ] );
    };
}

my %TOKENS;    # command (container|sub) => { option word => 1 }

sub _tokens_of {
    my ($name) = @_;
    return $TOKENS{$name} //= do {
        my $entry = $Future::IO::Redis::CommandTable::COMMANDS{$name};
        +{ map { $_ => 1 } split ' ', ( $entry && $entry->{tokens} ) // '' };
    };
}

sub _is_container {
    my $entry = $Future::IO::Redis::CommandTable::COMMANDS{ lc $_[0] };
    return $entry && $entry->{container};
}

# A key as text for a log line: one line of bytes, whatever the key holds
# (control characters, and bytes that are not UTF-8, as \xNN), at most
# MAX_SHOWN bytes of it; undef as 'undef'.
use constant MAX_SHOWN => 256;

sub _printable {
    my ($word) = @_;
    return 'undef' unless defined $word;
    my $text = "$word";
    return $text        if length $text <= MAX_SHOWN && $text !~ /[^\x20-\x7e]/;   # (the usual key)
    utf8::encode($text) if utf8::is_utf8($text);
    my $more = length($text) > MAX_SHOWN ? length($text) - MAX_SHOWN : 0;
    substr( $text, MAX_SHOWN ) = '' if $more;
    my $copy = $text;
    my $utf8 = utf8::decode($copy);
    $text =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    $text =~ s/([\x80-\xff])/sprintf '\\x%02x', ord $1/ge unless $utf8;
    return $more ? "$text...($more more bytes)" : $text;
}

# --- spans and metrics ------------------------------------------------------

sub new {
    my ( $class, %args ) = @_;
    my $tracer = $args{tracer};
    my $mode   = _semconv_mode();
    return bless {
        tracer       => $tracer,
        meter        => $args{meter},
        debug        => $args{debug},
        include_args => $args{include_args} // 1,
        redact       => $args{redact}       // 1,
        host         => $args{host}         // 'localhost',
        port         => $args{port}         // 6379,
        path         => $args{path},
        database     => $args{database} // 0,
        old_names    => $mode ne 'stable',
        stable_names => $mode ne 'old',
        real_otel    => blessed $tracer && $tracer->isa(OTEL_TRACER_CLASS) ? 1 : 0,
    }, $class;
}

# Which attribute names OTEL_SEMCONV_STABILITY_OPT_IN asks for: 'database'
# the stable ones, 'database/dup' both, else the seed's (older) ones.
sub _semconv_mode {
    my @wanted = map { s/^\s+|\s+$//gr } split /,/, $ENV{ SEMCONV_OPT_IN_VARIABLE() } // '';
    return 'dup'    if grep { $_ eq 'database/dup' } @wanted;
    return 'stable' if grep { $_ eq 'database' } @wanted;
    return 'old';
}

# Instruments are made once per meter, not per client: a pool's clients
# (and clients sharing a meter) count into the same ones.
my %INSTRUMENTS;    # refaddr of meter => { meter (weak), slot => instrument }

sub _init_metrics {
    my ($self) = @_;
    my $meter = $self->{meter} or return;
    return if $self->{_metrics_initialized};
    my $cached = $INSTRUMENTS{ refaddr $meter };
    if ( $cached && $cached->{meter} && refaddr $cached->{meter} == refaddr $meter ) {
        $self->{$_} = $cached->{$_} for grep { /^_/ } keys %$cached;
        $self->{_metrics_initialized} = 1;
        return;
    }
    my @metrics = (
        [
            _commands_counter => create_counter => 'redis.commands.total',
            'Total Redis commands executed', '1'
        ],
        [
            _commands_histogram => create_histogram => 'redis.commands.duration',
            'Redis command latency', 'ms'
        ],
        [
            _connections_gauge => create_up_down_counter => 'redis.connections.active',
            'Current active connections', '1'
        ],
        [
            _errors_counter => create_counter => 'redis.errors.total',
            'Total Redis errors by type', '1'
        ],
        [
            _reconnects_counter => create_counter => 'redis.reconnects.total',
            'Total reconnection attempts', '1'
        ],
        [
            _pipeline_histogram => create_histogram => 'redis.pipeline.size',
            'Commands per pipeline', '1'
        ],
    );
    for (@metrics) {
        my ( $slot, $create, $name, $description, $unit ) = @$_;
        $self->{$slot}
            = $meter->$create( name => $name, description => $description, unit => $unit );
    }
    $self->{_metrics_initialized} = 1;
    delete @INSTRUMENTS{ grep { !$INSTRUMENTS{$_}{meter} } keys %INSTRUMENTS };
    my %entry = ( meter => $meter, map { $_->[0] => $self->{ $_->[0] } } @metrics );
    weaken( $entry{meter} );
    $INSTRUMENTS{ refaddr $meter } = \%entry;
    return;
}

# The attributes every span of this client carries, plus the operation's.
sub _attributes {
    my ( $self, $operation, $statement, %extra ) = @_;
    my %attr = ( %{ $self->{_base} //= $self->_base_attributes }, %extra );
    if ( $self->{old_names} ) {
        $attr{'db.operation'} = $operation;
        $attr{'db.statement'} = $statement;
    }
    if ( $self->{stable_names} ) {
        $attr{'db.operation.name'} = $operation;
        $attr{'db.query.text'}     = $statement;
    }
    return \%attr;
}

# The attributes that are the same for every span of the client (made
# once; a SELECT makes them again).
sub _base_attributes {
    my ($self) = @_;
    my %attr;
    my $address = $self->{path} // $self->{host};
    if ( $self->{old_names} ) {
        %attr = (
            'db.system'               => 'redis',
            'net.peer.name'           => $address,
            'db.redis.database_index' => $self->{database},
            defined $self->{path} ? () : ( 'net.peer.port' => $self->{port} ),
        );
    }
    if ( $self->{stable_names} ) {
        %attr = (
            %attr,
            'db.system.name' => 'redis',
            'db.namespace'   => "$self->{database}",
            'server.address' => $address,
            defined $self->{path} ? () : ( 'server.port' => $self->{port} ),
        );
    }
    return \%attr;
}

# The client's database changed (a SELECT the server accepted).
sub set_database {
    my ( $self, $database ) = @_;
    $self->{database} = $database;
    delete $self->{_base};
    return;
}

sub _statement {
    my ( $self, $cmd ) = @_;
    return uc( $cmd->[0] // '' )                  unless $self->{include_args};
    return format_command_for_span( 1, 1, @$cmd ) unless $self->{redact};         # (secrets: never)
    return format_command_sanitized(@$cmd);
}

sub _span {
    my ( $self, $name, $attributes ) = @_;
    my $tracer = $self->{tracer} or return;
    return $tracer->create_span(
        name       => "redis.$name",
        kind       => $self->{real_otel} ? OTEL_SPAN_KIND_CLIENT : 'client',
        attributes => $attributes,
    );
}

sub start_command_span {
    my ( $self, @cmd ) = @_;
    return undef unless $self->{tracer};
    my $name = uc( $cmd[0] // 'UNKNOWN' );
    return {
        span => $self->_span( $name, $self->_attributes( $name, $self->_statement( \@cmd ) ) ),
        start_time => Time::HiRes::time(),
        command    => $name,
    };
}

sub end_command_span {
    my ( $self, $context, $error, $elapsed_ms ) = @_;
    return unless $context;
    $elapsed_ms //= ( Time::HiRes::time() - $context->{start_time} ) * 1000;
    if ( my $span = $context->{span} ) {
        $self->_span_error( $span, $error ) if $error;
        $span->end;
    }
    $self->_record_command_metrics( $context->{command}, $elapsed_ms, $error );
    return;
}

sub _span_error {
    my ( $self, $span, $error, $secrets ) = @_;
    my $text = error_text( $error, @{ $secrets || [] } );
    $span->set_status( $self->{real_otel} ? OTEL_SPAN_STATUS_ERROR : 'error', $text );
    $span->record_exception( _shown_error( $error, $text ) ) if $span->can('record_exception');
    if ( $self->{stable_names} && $span->can('set_attribute') ) {
        my $code = blessed $error && $error->can('type') ? $error->type : undef;
        $span->set_attribute( 'error.type'              => $code // error_type($error) );
        $span->set_attribute( 'db.response.status_code' => $code ) if defined $code;
    }
    return;
}

# An error as a log line may show it. Servers quote arguments in their
# errors (an unknown command's, an ACL rule's, a config value ...): what
# they quote becomes '?', and the given secrets [REDACTED] wherever they
# are.
sub error_text {
    my ( $error, @secrets ) = @_;
    my $text = blessed $error && $error->can('message') ? $error->message : "$error";
    if ( blessed $error && $error->isa('Future::IO::Redis::Error::Redis') ) {

        # (A quote, not an apostrophe: "can't" and "client's" stay.)
        $text =~ s/(, with args beginning with:).*/$1 .../s;
        $text =~ s/(?<![A-Za-z])'[^'\n]*'(?![A-Za-z])/'?'/g;
        $text =~ s/`[^`\n]*`/`?`/g;
    }
    for my $secret ( sort { length $b <=> length $a } @secrets ) {
        $text =~ s/\Q$secret\E/${\REDACTED}/g;
    }
    return $text;
}

# The error as a span's exception: our error class with the message as
# error_text gives it (the original may quote values).
sub _shown_error {
    my ( $error, $text ) = @_;
    return $text unless blessed $error && $error->isa('Future::IO::Redis::Error');
    return $error if $text eq $error->message;
    return bless { %$error, message => $text }, ref $error;
}

# The error's class without its package (Redis, Timeout, Connection ...).
sub error_type {
    my ($error) = @_;
    my $type = ref($error) || 'unknown';
    $type =~ s/.*:://;
    return $type;
}

sub _record_command_metrics {
    my ( $self, $command, $elapsed_ms, $error ) = @_;
    $self->_init_metrics;
    my %labels = ( command => $command );
    $self->{_commands_counter}->add( 1, \%labels )                if $self->{_commands_counter};
    $self->{_commands_histogram}->record( $elapsed_ms, \%labels ) if $self->{_commands_histogram};
    $self->record_error($error)                                   if $error;
    return;
}

sub record_error {
    my ( $self, $error ) = @_;
    $self->_init_metrics;
    $self->{_errors_counter}->add( 1, { type => error_type($error) } ) if $self->{_errors_counter};
    return;
}

# (A transaction is a batch too: $command MULTI.)
sub record_pipeline {
    my ( $self, $size, $elapsed_ms, $command ) = @_;
    $self->_init_metrics;
    $self->{_pipeline_histogram}->record($size) if $self->{_pipeline_histogram};
    $self->{_commands_histogram}->record( $elapsed_ms, { command => $command // 'PIPELINE' } )
        if $self->{_commands_histogram};
    return;
}

sub record_connection {
    my ( $self, $delta ) = @_;
    $self->_init_metrics;
    $self->{_connections_gauge}->add($delta) if $self->{_connections_gauge};
    return;
}

# The client's connection is up, or gone: the gauge and the log.
sub connected {
    my ( $self, $endpoint ) = @_;
    $self->record_connection(1);
    $self->log_event( connected => $endpoint );
    return;
}

sub disconnected {
    my ( $self, $why ) = @_;
    $self->record_connection(-1);
    $self->log_event( disconnected => $why );
    return;
}

sub record_reconnect {
    my ($self) = @_;
    $self->_init_metrics;
    $self->{_reconnects_counter}->add(1) if $self->{_reconnects_counter};
    return;
}

# --- the client's view: one operation from send to answer --------------------

# An operation (a command, or a batch named PIPELINE or MULTI) about to be
# sent: logged, and a span started.
#
# (With quiet, it is not logged yet: see log_started.)
sub start {
    my ( $self, $cmd, $quiet ) = @_;
    my $name    = uc( $cmd->[0] // 'UNKNOWN' );
    my $context = {
        command    => $name,
        text       => $self->{debug} ? format_command_sanitized(@$cmd) : undef,
        start_time => Time::HiRes::time(),
        pid        => $$,
        $REDACT_RULES{$name} ? ( secrets => [ _secrets_of($cmd) ] ) : (),
    };
    $context->{span} = $self->_span( $name, $self->_attributes( $name, $self->_statement($cmd) ) )
        if $self->{tracer};
    $self->log_started( [$context] ) unless $quiet;
    return $context;
}

sub log_started {
    my ( $self, $contexts ) = @_;
    return unless $self->{debug};
    $self->_log( 'send', '[REDIS SEND] ', $_->{text} ) for grep { defined $_->{text} } @$contexts;
    return;
}

# The secrets a command's redaction rule hides, as given and (for ACL
# rules such as >password) without their sign: a server error may quote
# them, and error_text takes them out again.
sub _secrets_of {
    my ($cmd)    = @_;
    my @args     = @$cmd[ 1 .. $#$cmd ];
    my @redacted = $REDACT_RULES{ uc $cmd->[0] }->(@args);
    my @secrets;
    for my $i ( 0 .. $#args ) {
        next unless _was_redacted( $redacted[$i], $args[$i] );
        my $arg = "$args[$i]";
        push @secrets, $arg,
              $arg =~ /\A[><#!]/  ? substr( $arg, 1 )
            : $arg =~ /\A\(/      ? $arg =~ /(?:\A\(|\s)[><#!]([^\s)]+)/g
            :                       ();
    }
    return grep { length } @secrets;
}

sub start_batch {
    my ( $self, $name, $commands ) = @_;
    my $text    = "$name of " . scalar(@$commands) . ' commands';
    my @secrets = map { _secrets_of($_) } grep { $REDACT_RULES{ uc( $_->[0] // '' ) } } @$commands;
    if ( $self->{debug} ) {
        $self->_log( 'send', '[REDIS SEND] ', $text );
        $self->_log( 'send', '[REDIS SEND] ', '  ' . format_command_sanitized(@$_) ) for @$commands;
    }
    my $span;
    if ( $self->{tracer} ) {
        my $statement = join "\n", map { $self->_statement($_) } @$commands;
        $span = $self->_span(
            $name,
            $self->_attributes(
                $name, $statement,
                'db.operation.batch.size' => scalar @$commands,
                $self->{old_names} ? ( 'db.redis.pipeline_size' => scalar @$commands ) : ()
            )
        );
    }
    return {
        command    => $name,
        text       => $text,
        secrets    => \@secrets,
        size       => scalar @$commands,
        start_time => Time::HiRes::time(),
        pid        => $$,
        span       => $span,
    };
}

# The operation's future is ready: its answer is logged (by shape), its span
# ended, its metrics recorded. The time is the core's, on the wire, when it
# measured one. (Nothing in a forked child: the parent's spans are not ours.)
sub finish {
    my ( $self, $context, $f ) = @_;
    return if $context->{pid} != $$;
    my $elapsed_ms
        = defined $context->{wire_us}
        ? $context->{wire_us} / 1000
        : ( Time::HiRes::time() - $context->{start_time} ) * 1000;
    my $error
        = $f->is_cancelled ? 'cancelled by the caller'
        : $f->is_failed    ? scalar $f->failure
        :                    _transaction_error( $context, $f );
    my $secrets = $context->{secrets};
    if ( $self->{debug} ) {
        if ( defined $error ) { $self->log_error( $error, $context->{text}, $secrets ) }
        else                  { $self->log_recv( scalar $f->result, $elapsed_ms ) }
    }
    if ( my $span = $context->{span} ) {
        $self->_span_error( $span, $error, $secrets ) if defined $error;
        $span->end;
    }

    # (A cancel is the caller's choice, not an error of Redis's.)
    return $self->_finish_metrics( $context, $f, $elapsed_ms, $f->is_cancelled ? undef : $error )
        if $self->{meter};
    return;
}

# A transaction the server refused (EXECABORT, EXEC answered with an
# error) is an error even though its batch was answered.
sub _transaction_error {
    my ( $context, $f ) = @_;
    return undef unless $context->{command} eq 'MULTI' && $f->is_done;
    my ($replies) = $f->result;
    my $exec      = ref $replies eq 'ARRAY' ? $replies->[-1] : undef;
    return blessed $exec && $exec->isa('Future::IO::Redis::Error') ? $exec : undef;
}

sub _finish_metrics {
    my ( $self, $context, $f, $elapsed_ms, $error ) = @_;
    if ( defined $context->{size} ) {
        $self->record_pipeline( $context->{size}, $elapsed_ms, $context->{command} );
        $self->_init_metrics;
        $self->{_commands_counter}->add( 1, { command => $context->{command} } )
            if $self->{_commands_counter};
        if ( defined $error ) {
            $self->record_error($error);
        }
        elsif ( $f->is_done && ref( my $replies = $f->result ) eq 'ARRAY' ) {

            # (A transaction's replies are inside EXEC's, its last.)
            $replies = $replies->[-1] if $context->{command} eq 'MULTI';
            $self->record_error($_)
                for grep { blessed $_ && $_->isa('Future::IO::Redis::Error') }
                ref $replies eq 'ARRAY' ? @$replies : ();
        }
        return;
    }
    $self->_record_command_metrics( $context->{command}, $elapsed_ms, $error );
    return;
}

# A connection attempt sends its handshake: each command gets a log line
# and a span (AUTH as AUTH [REDACTED]), ended by finish_handshake when the
# attempt ends.
sub start_handshake {
    my ( $self, $commands ) = @_;
    return [ map { $self->start( $_, 'quiet' ) } @$commands ];
}

sub finish_handshake {
    my ( $self, $started, $error ) = @_;
    for my $context (@$started) {
        next if $context->{pid} != $$;
        my $elapsed_ms = ( Time::HiRes::time() - $context->{start_time} ) * 1000;
        if ( my $span = $context->{span} ) {
            $self->_span_error( $span, $error, $context->{secrets} ) if defined $error;
            $span->end;
        }
    }
    if ( defined $error ) {
        $self->log_error(
            $error,
            'connect: ' . join( '; ', grep { defined } map { $_->{text} } @$started ),
            [ map { @{ $_->{secrets} || [] } } @$started ]
        ) if $self->{debug};
        $self->record_error($error) if $self->{meter};
    }
    return;
}

# --- debug logging ----------------------------------------------------------

sub _log {
    my ( $self, $direction, $prefix, $message ) = @_;
    my $debug = $self->{debug} or return;
    if ( ref $debug eq 'CODE' ) {
        eval { $debug->( $direction, $direction eq 'send' ? $message : "$prefix$message" ); 1 }
            or $self->{_failed}++
            or warn "Future::IO::Redis: debug callback died (further failures of this client are "
            . "not reported): $@";
        return;
    }
    warn "$prefix$message\n";
    return;
}

sub log_send {
    my ( $self, @cmd ) = @_;
    $self->_log( 'send', '[REDIS SEND] ', format_command_sanitized(@cmd) );
    return;
}

sub log_recv {
    my ( $self, $result, $elapsed_ms ) = @_;
    $self->_log( 'recv', '',
        sprintf( '[REDIS RECV] %s (%.2fms)', _summarize_result($result), $elapsed_ms // 0 ) );
    return;
}

# (With the command it answers, as logged when sent, and the secrets it
# held, when given.)
sub log_error {
    my ( $self, $error, $command, $secrets ) = @_;
    $self->_log(
        'error',
        '[REDIS ERROR] ',
        ( defined $command ? "$command: " : '' ) . error_text( $error, @{ $secrets || [] } )
    );
    return;
}

sub log_event {
    my ( $self, $event, $details ) = @_;
    $self->_log( 'event', '[REDIS EVENT] ', $event . ( $details ? ": $details" : '' ) );
    return;
}

# A reply by its shape, never its content.
sub _summarize_result {
    my ($result) = @_;
    return 'nil' unless defined $result;
    return 'array[' . scalar(@$result) . ']'       if ref $result eq 'ARRAY';
    return 'hash{' . scalar( keys %$result ) . '}' if ref $result eq 'HASH';
    return 'error: ' . error_text($result)
        if blessed $result && $result->isa('Future::IO::Redis::Error');
    return ref($result)                            if ref $result;
    return 'string[' . length($result) . ' bytes]' if length($result) > 100;
    return $result   if $result eq 'OK' || $result eq 'PONG' || $result eq 'QUEUED';
    return 'integer' if $result =~ /^-?\d+$/;
    return 'string[' . length($result) . ']';
}

1;

__END__

=head1 NAME

Future::IO::Redis::Telemetry - OpenTelemetry spans and metrics, and debug logs that never show values or secrets

=head1 SYNOPSIS

    use Future::IO::Redis;

    my $redis = Future::IO::Redis->new(
        host        => 'localhost',
        otel_tracer => $tracer,     # OpenTelemetry->tracer_provider->tracer('redis'), or any
                                    # object with create_span
        otel_meter  => $meter,      # with create_counter, create_histogram,
                                    # create_up_down_counter
        debug       => 1,           # log to STDERR, or:
        debug       => sub { my ( $direction, $line ) = @_; $log->debug($line) },
    );

    # the functions on their own
    say Future::IO::Redis::Telemetry::format_command_for_log( 'AUTH', 'user', 'pw' );
    # AUTH user [REDACTED]

=head1 DESCRIPTION

The client (and the pool, for each of its connections) builds one of these
when any of C<otel_tracer>, C<otel_meter> or C<debug> is given; without
them nothing is measured and the command path is unchanged. With them, each
command costs this module a few microseconds of Perl on top of what the
tracer and meter themselves cost: F<xt/bench/telemetry.pl> measures it
(on the 2-core development machine, with no-op tracer and meter objects,
1,000 concurrent GETs run at about 36,000 ops/s with a tracer and a meter,
52,000 with a meter alone, instead of 100,000; a sequential GET, which
waits for the network, is about 10 % slower).

=head2 What is shown of a command

Logs and spans show a command as its name, its sub-command, its keys (found
from the server's key specifications, as for C<prefix>), its option words
(the tokens of the server's command documentation: EX, NX, LIMIT, AUTH ...)
and C<?> for every other argument; secrets are C<[REDACTED]>:

    SET user:1 ? EX ?              # SET user:1 "secret" EX 60
    AUTH [REDACTED]
    HELLO ? AUTH ? [REDACTED] SETNAME ?
    CONFIG SET ? ?
    OBJECT ENCODING user:1

(A value that happens to be one of the command's option words shows as
that word.)

Spans can show less or more: C<< otel_include_args => 0 >> shows only the
name, and C<< otel_redact => 0 >> every argument as given (values included;
only for systems where that is acceptable) except secrets, which are
C<[REDACTED]> whatever the options. Debug logs are always shown the safe
way. Replies are logged by shape only (C<OK>, C<integer>, C<string[5]>,
C<array[3]>, C<nil>); server errors by message, with whatever the server
quotes in them (an unknown command's arguments, a refused ACL rule, a
config value) shown as C<'?'>, in logs, span statuses and the exception a
span records alike. The caller's own error keeps the server's words, except
that a refused ACL rule's password or hash is C<[REDACTED]> there too. An
error text your own Lua script makes from its arguments is shown as the
server sends it. Keys are shown on one line: control characters (and bytes
that are not UTF-8) as C<\xNN>, at most 256 bytes of them.

=head2 Traces

A span per command, named C<redis.E<lt>COMMANDE<gt>>, of kind client (the
SDK's C<SPAN_KIND_CLIENT> for a real L<OpenTelemetry> tracer, the word
C<client> for any other), with the attributes

    db.system               redis
    db.operation            the command name
    db.statement            the command as shown above
    net.peer.name           host (or the unix socket path)
    net.peer.port           port
    db.redis.database_index the database

A pipeline gets one span C<redis.PIPELINE> and a transaction one span
C<redis.MULTI>, whose statement has one line per command and which also
carry C<db.operation.batch.size>. Each connection attempt gives a span per
handshake command (C<redis.AUTH>, C<redis.HELLO>, C<redis.SELECT>,
C<redis.CLIENT>), ended when the connection is up or has failed. A failed
command's span has status error, the error recorded as its exception, and
its message as the status description.

With C<OTEL_SEMCONV_STABILITY_OPT_IN=database> in the environment the
current stable names are used instead: C<db.system.name>,
C<db.operation.name>, C<db.query.text>, C<db.namespace> (the database, as a
string), C<server.address>, C<server.port>, and on errors (for spans with
C<set_attribute>) C<error.type> and C<db.response.status_code> (the
server's error code, such as C<WRONGTYPE>). C<database/dup> sets both.

=head2 Metrics

=over 4

=item C<redis.commands.total> - counter, by C<command> (PIPELINE and MULTI for batches)

=item C<redis.commands.duration> - histogram in milliseconds, by C<command>:
the time the Rust core measured between handing the command to its
connection and its reply (the time in Perl's queue is not in it)

=item C<redis.connections.active> - up/down counter: +1 on every connect,
-1 on every loss or C<disconnect>

=item C<redis.errors.total> - counter, by C<type> (C<Redis>, C<Timeout>,
C<Connection>, C<Disconnected>, ...; an error in a pipeline's slot counts)

=item C<redis.reconnects.total> - counter of reconnect attempts

=item C<redis.pipeline.size> - histogram of commands per pipeline or transaction

=back

=head2 Debug logs

C<< debug => 1 >> warns lines such as C<[REDIS SEND] GET user:1>,
C<[REDIS RECV] string[5] (0.21ms)>, C<[REDIS ERROR] ...> and
C<[REDIS EVENT] connected: localhost:6379>. A code reference gets
C<($direction, $line)> instead, C<$direction> being C<send>, C<recv>,
C<error> or C<event> (for C<send>, the line is the command without the
prefix).

=head1 FUNCTIONS

=head2 format_command_for_log

    $text = Future::IO::Redis::Telemetry::format_command_for_log(@command);

The command with its name in upper case and its secrets replaced (AUTH,
CONFIG SET requirepass/masterauth/masteruser/user, MIGRATE AUTH/AUTH2, HELLO
AUTH, ACL SETUSER E<gt>password and #hash); other arguments as given.

=head2 format_command_for_span

    $text = Future::IO::Redis::Telemetry::format_command_for_span(
        $include_args, $redact, @command );

The name alone without C<$include_args>; else as C<format_command_for_log>,
secrets replaced only with C<$redact>.

=head2 format_command_sanitized

    $text = Future::IO::Redis::Telemetry::format_command_sanitized(@command);

What the client logs and puts in spans: name, sub-command, keys, option
words, C<?> for the rest, secrets replaced.

=head1 METHODS

C<new(%args)> (tracer, meter, debug, include_args, redact, host, port, path,
database), C<start_command_span(@command)> and C<end_command_span($context,
$error, $elapsed_ms)>, C<record_pipeline($size, $elapsed_ms)>,
C<record_connection($delta)>, C<record_reconnect>, C<record_error($error)>,
and C<log_send(@command)>, C<log_recv($reply, $elapsed_ms)>,
C<log_error($error)>, C<log_event($event, $details)> are the seed's
interface, for code that wants to report its own work the same way. The
client itself uses C<start>, C<start_batch>, C<log_started>, C<finish>,
C<start_handshake>, C<finish_handshake>, C<connected>, C<disconnected> and
C<set_database>.

=head1 SEE ALSO

L<Future::IO::Redis>, L<OpenTelemetry>

=cut
