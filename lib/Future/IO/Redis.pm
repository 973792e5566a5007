package Future::IO::Redis;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(croak);
use Scalar::Util qw(blessed looks_like_number weaken);
use overload     ();

use Future;
use Future::AsyncAwait ();
use Future::IO;

use Future::IO::Redis::Error;
use Future::IO::Redis::URI;
use Future::IO::Redis::Bridge;
use Future::IO::Redis::Pipeline;
use Future::IO::Redis::Transaction;

# One method per Redis command; the methods below that need more win.
use parent 'Future::IO::Redis::Commands';

require XSLoader;
XSLoader::load( 'Future::IO::Redis', $VERSION );

# `use Future::IO::Redis` also enables async/await in the caller's scope.
sub import {
    Future::AsyncAwait->import;
}

# Error kinds and events, as in fior.h and src/completion.rs.
use constant {
    FIOR_FORKED      => -2,
    FIOR_ERR_INVALID => 6,
    EV_CONNECTED     => 1,
    EV_DISCONNECTED  => 2,
    EV_ERROR         => 3,
    EV_RECONNECTING  => 4,
    EV_FAILED        => 5,
    EV_RESUBSCRIBED  => 6,
};

# Command names, as callers write them, that are never refused.
our %PLAIN_NAME;

# Words that start or end a transaction, or WATCH: a pipeline holding one
# waits for the client's WATCH sections (Future::IO::Redis::Transaction).
our %TX_WORD = map { $_ => 1 } qw(MULTI EXEC DISCARD WATCH UNWATCH);

# Called as ($ok, $reply or error record) for the next command sent, even
# when its caller cancelled: the client's own bookkeeping (transactions).
our $ON_REPLY;

# The telemetry context (Future::IO::Redis::Telemetry) of the operation
# being sent: its request gets the core's time on the wire.
our $OBSERVING;

my %DEFAULTS = (
    host                    => 'localhost',
    port                    => 6379,
    database                => 0,
    tls                     => 0,
    connect_timeout         => 10,
    request_timeout         => 5,
    blocking_timeout_buffer => 2,
    read_timeout            => 30,
    write_timeout           => 30,
    reconnect               => 0,
    reconnect_delay         => 0.1,
    reconnect_delay_max     => 60,
    reconnect_jitter        => 0.25,
    reconnect_max_attempts  => 10,
    pipeline_depth          => 10000,
    max_buffered_messages   => 0,
    auto_pipeline           => 0,
    protocol                => 2,
    otel_include_args       => 1,
    otel_redact             => 1,
);

# option => validator returning an error text or nothing.
my %CHECK = (
    host        => \&_want_text,
    port        => sub { _want_int( @_, 1, 65535 ) },
    path        => \&_want_text,
    uri         => \&_want_text,
    database    => sub { _want_int( @_, 0, 2**31 - 1 ) },
    username    => sub { _want_string(@_) // ( length $_[0] ? undef : 'must not be empty' ) },
    password    => \&_want_string,    # any bytes: Redis passwords are binary-safe
    client_name => sub {
        _want_text(@_) // ( $_[0] =~ /\s/ ? 'must not contain spaces' : undef );
    },
    tls                     => \&_check_tls,
    connect_timeout         => \&_want_seconds,
    request_timeout         => \&_want_seconds,
    blocking_timeout_buffer => \&_want_seconds,
    read_timeout            => \&_want_seconds,
    write_timeout           => \&_want_seconds,
    reconnect               => \&_want_flag,
    reconnect_delay         => \&_want_seconds,
    reconnect_delay_max     => \&_want_seconds,
    reconnect_jitter        => sub {
        my ($v) = @_;
        return 'must be a number from 0 to 1'
            unless defined $v && !ref $v && looks_like_number($v) && $v >= 0 && $v <= 1;
        return;
    },
    reconnect_max_attempts => sub { _want_int( @_, 0, 2**31 - 1 ) },
    on_connect             => \&_want_code,
    on_disconnect          => \&_want_code,
    on_error               => \&_want_code,
    prefix                 => \&_want_string,
    pipeline_depth         => sub { _want_int( @_, 1, 2**31 - 1 ) },
    max_buffered_messages  => sub { _want_int( @_, 0, 2**31 - 1 ) },
    auto_pipeline          => \&_want_flag,
    protocol               => sub {
        my ($v) = @_;
        return 'must be 2 or 3' unless defined $v && !ref $v && ( $v eq '2' || $v eq '3' );
        return;
    },
    debug       => \&_check_debug,
    otel_tracer => sub { _want_object( @_, 'create_span' ) },
    otel_meter  =>
        sub { _want_object( @_, qw(create_counter create_histogram create_up_down_counter) ) },
    otel_include_args => \&_want_flag,
    otel_redact       => \&_want_flag,
);

my %TLS_KEYS = map { $_ => 1 } qw(ca_file cert_file key_file verify verify_hostname server_name);

sub _want_string {
    my ($v) = @_;
    return 'must be a string' if !defined $v || ( ref $v && !overload::Method( $v, '""' ) );
    return;
}

sub _want_text {
    my ($v) = @_;
    return _want_string($v) // ( length $v ? _want_utf8($v) : 'must not be empty' );
}

# The core takes names, paths and credentials as UTF-8 text: a byte string
# that is not valid UTF-8 would only fail later, at connect time.
sub _want_utf8 {
    my ($v) = @_;
    return if utf8::is_utf8("$v");
    my $copy = "$v";
    return utf8::decode($copy) ? undef : 'must be UTF-8 text';
}

sub _want_int {
    my ( $v, $min, $max ) = @_;
    return "must be an integer from $min to $max"
        unless defined $v && !ref $v && $v =~ /\A[0-9]+\z/ && $v >= $min && $v <= $max;
    return;
}

# The longest wait an option may ask for (about 68 years, as the core).
use constant MAX_SECONDS => 2_147_483_647;

sub _want_seconds {
    my ($v) = @_;
    return 'must be a number of seconds from 0 to ' . MAX_SECONDS
        unless defined $v && !ref $v && looks_like_number($v) && $v >= 0 && $v <= MAX_SECONDS;
    return;
}

sub _want_flag {
    my ($v) = @_;
    return 'must be a true or false scalar' if ref $v;
    return;
}

sub _want_code {
    my ($v) = @_;
    return 'must be a code reference' unless ref $v eq 'CODE';
    return;
}

sub _check_tls {
    my ($v) = @_;
    return if !ref $v;
    return 'must be 0, 1 or a hash reference' unless ref $v eq 'HASH';
    for my $key ( sort keys %$v ) {
        return "has unknown key '$key'" unless $TLS_KEYS{$key};
    }
    for my $file (qw(ca_file cert_file key_file)) {
        next                                                unless defined $v->{$file};
        return "$file '$v->{$file}' is not a readable file" unless -r $v->{$file};
    }
    return "cert_file and key_file go together"
        if defined $v->{cert_file} xor defined $v->{key_file};
    return;
}

sub _check_debug {
    my ($v) = @_;
    return if !ref $v || ref $v eq 'CODE';
    return 'must be a true or false scalar, or a code reference';
}

sub _want_object {
    my ( $v, @methods ) = @_;
    return if !defined $v;
    my @missing = grep { !( blessed $v && $v->can($_) ) } @methods;
    return 'must be an object with the methods ' . join( ', ', @methods ) if @missing;
    return;
}

sub new {
    my ( $class, %args ) = @_;
    for my $key ( sort keys %args ) {
        croak "Future::IO::Redis->new: unknown option '$key'" unless $CHECK{$key};
    }
    my %opt = (%DEFAULTS);
    if ( defined $args{uri} ) {

        # URI parts first; explicit options win.
        my $uri = Future::IO::Redis::URI->parse( $args{uri} );
        %opt = ( %opt, $uri->to_options );
        $opt{tls} = 1 if $uri->tls && !exists $args{tls};
    }
    %opt = ( %opt, %args );

    # A unix socket client has no host or port (not the TCP defaults).
    delete @opt{qw(host port)}
        if defined $opt{path} && !defined $args{host} && !defined $args{port};
    for my $key ( sort keys %opt ) {
        next unless defined $opt{$key} || $key =~ /^(?:path|uri|username|password|client_name)\z/;
        my $problem = $CHECK{$key}->( $opt{$key} );
        croak "Future::IO::Redis->new: option '$key' $problem" if defined $problem;
    }
    croak "Future::IO::Redis->new: give either path or host/port, not both"
        if defined $opt{path} && ( defined $args{host} || defined $args{port} );
    croak "Future::IO::Redis->new: tls does not apply to a unix socket"
        if defined $opt{path} && $opt{tls};

    # Loaded only when needed: the command table is large.
    require Future::IO::Redis::KeyExtractor if defined $opt{prefix};

    my $self = bless {
        %opt,
        _pid       => $$,
        _id        => Future::IO::Redis::_XS::next_id(),
        _connected => 0,
    }, $class;
    $self->{_telemetry} = _telemetry_for( \%opt )
        if $opt{debug} || $opt{otel_tracer} || $opt{otel_meter};
    return $self;
}

sub _telemetry_for {
    my ($opt) = @_;
    require Future::IO::Redis::Telemetry;
    return Future::IO::Redis::Telemetry->new(
        tracer       => $opt->{otel_tracer},
        meter        => $opt->{otel_meter},
        debug        => $opt->{debug},
        include_args => $opt->{otel_include_args},
        redact       => $opt->{otel_redact},
        host         => $opt->{host},
        port         => $opt->{port},
        path         => $opt->{path},
        database     => $opt->{database},
    );
}

# The options the Rust core understands, as a flat key/value list.
sub _core_options {
    my ($self) = @_;
    my @endpoint = defined $self->{path} ? ('path') : ( 'host', 'port' );
    my @pairs;
    for my $key (
        @endpoint, qw(database username password client_name protocol
        connect_timeout request_timeout blocking_timeout_buffer reconnect_delay
        reconnect_delay_max reconnect_jitter reconnect_max_attempts)
    ) {
        push @pairs, $key => "$self->{$key}" if defined $self->{$key};
    }
    push @pairs, reconnect => ( $self->{reconnect} ? 1 : 0 );
    push @pairs, observe   => 1 if $self->{_telemetry};
    if ( my $tls = $self->{tls} ) {
        push @pairs, tls => 1;
        if ( ref $tls eq 'HASH' ) {
            for my $key (qw(ca_file cert_file key_file server_name)) {
                push @pairs, "tls_$key" => "$tls->{$key}" if defined $tls->{$key};
            }
            for my $key (qw(verify verify_hostname)) {
                push @pairs, "tls_$key" => ( $tls->{$key} ? 1 : 0 ) if exists $tls->{$key};
            }
        }
    }
    return @pairs;
}

# The core handle of this process; a forked child builds its own.
sub _handle {
    my ($self) = @_;
    $self->_after_fork      if $self->{_pid} != $$;
    return $self->{_handle} if $self->{_handle};
    Future::IO::Redis::Bridge::ensure();
    my ( $status, @rest )
        = Future::IO::Redis::_XS::client_new( $self->{_id}, $self->_core_options );
    croak "Future::IO::Redis: cannot create client: $rest[1]" if $status != 0;

    # Weaken the stored reference itself (a copy of a weak reference is
    # strong): the registry must not keep clients alive.
    weaken( $Future::IO::Redis::Bridge::CLIENTS{ $self->{_id} } = $self );
    return $self->{_handle} = $rest[0];
}

# True (once) in a forked child, which then starts afresh (the seed's
# name; the hot paths compare _pid themselves).
sub _check_fork {
    my ($self) = @_;
    return 0 if $self->{_pid} == $$;
    $self->_after_fork;
    return 1;
}

# The parent's connection is not ours: forget it (the core never touches
# it from here) and start afresh on first use.
sub _after_fork {
    my ($self) = @_;
    my $parent = $self->{_pid};
    $self->{_pid} = $$;
    if ( my $telemetry = $self->{_telemetry} ) {
        _safely( $telemetry,
            sub { $telemetry->log_event( fork_detected => "old PID: $parent, new PID: $$" ) } );
    }

    # The parent's futures are failed by the bridge; its queued ones and
    # its subscription here.
    my $error = Future::IO::Redis::Error::Disconnected->new(
        message => 'request was made by the parent process before fork',
        reason  => 'fork'
    );
    $self->_end_subscription($error);

    # Its connection and handshake are the parent's, and so is their
    # telemetry: the child neither counts them down nor ends their spans.
    $self->{_connected} = 0;
    delete $self->{_handshake};
    $self->_detach_core($error);
    delete $self->{_tx_gate};    # its waiters are the parent's
}

=head1 NAME

Future::IO::Redis - fast, correct async Redis client for Future::IO, with a Rust core

=head1 SYNOPSIS

    use IO::Async::Loop;
    use Future::IO::Impl::IOAsync;
    use Future::IO::Redis;      # also enables async/await here

    my $loop  = IO::Async::Loop->new;
    my $redis = Future::IO::Redis->new(
        host      => 'localhost',
        reconnect => 1,
    );

    async sub main {
        await $redis->connect;
        await $redis->set( greeting => 'hello', ex => 60 );
        my $value = await $redis->get('greeting');

        # many commands at once, each with its own reply
        my @counts = await Future->needs_all(
            map { $redis->incr("counter:$_") } 1 .. 1000
        );

        my $id = await $redis->command( 'CLIENT', 'ID' );
        return $value;
    }

    print $loop->await( main() )->get, "\n";

=head1 DESCRIPTION

An asynchronous Redis client whose connection handling, ordering, deadlines
and reconnects run in a Rust core (tokio, rustls and a binary-safe RESP2/3
layer of its own) on a background thread, and whose API is made of L<Future>s of the event loop you
already use, through L<Future::IO>. No call ever blocks the event loop.

Every command gets its own future and its own reply, however many are in
flight on the one connection; a reply never reaches the wrong caller, not
after a timeout, a cancelled future, a dropped connection, a reconnect or a
fork.

=head1 CONSTRUCTOR

=head2 new

    $redis = Future::IO::Redis->new( %options );

Validates the options and returns the client; it does no I/O. An unknown
option or a bad value croaks with a message naming it. Each option is kept
in the object under its own name (C<< $redis->{host} >> ...).

=over 4

=item host, port

TCP endpoint, default C<localhost:6379>. IPv4 and IPv6; every address the
name resolves to is tried in turn. Name resolution runs in the core, never
on the event loop.

=item path

Unix socket path, instead of host and port.

=item uri

C<redis://[user[:pass]@]host[:port][/db]>, C<rediss://...> (TLS) or
C<redis+unix://[:pass@]/path[?db=N]>; see L<Future::IO::Redis::URI>.
Explicit options win over the parts of the URI.

=item database

Database number, selected after every (re)connect. Default 0.

=item username, password

Sent as C<AUTH [username] password> (C<HELLO 3 AUTH ...> under RESP3) on every
(re)connect. A password of C<"0"> is a password, and a password may be any
bytes (text is sent as UTF-8). Never logged, never part of an error message.

=item client_name

Set with C<CLIENT SETNAME> after every (re)connect.

=item tls

C<1>, or a hash reference C<< { ca_file, cert_file, key_file, verify => 1,
verify_hostname => 1, server_name } >>. Certificates are checked against
C<ca_file> (or the system's roots), and the host name against the
certificate unless C<verify_hostname> is 0; C<verify =E<gt> 0> turns all
checking off. C<server_name> overrides the name checked and sent as SNI.

=item connect_timeout

Seconds for TCP, TLS and handshake together. Default 10; 0 means none.

=item request_timeout

Seconds to wait for each reply. Default 5; 0 means none.

=item blocking_timeout_buffer

Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
BZPOPMAX, BZMPOP, XREAD/XREADGROUP with BLOCK, WAIT, WAITAOF) wait their own
server-side timeout plus this many seconds (default 2); a server timeout of
0 means the client waits forever too.

=item read_timeout, write_timeout

Accepted for compatibility; the deadlines above are what apply.

=item reconnect

When true, a dropped connection is re-established in the background with
exponential backoff. Default 0.

=item reconnect_delay, reconnect_delay_max, reconnect_jitter

Attempt I<n> waits C<reconnect_delay * 2 ** (n - 1)> seconds, capped at
C<reconnect_delay_max>, plus or minus C<reconnect_jitter> times that delay.
Defaults 0.1, 60 and 0.25.

=item reconnect_max_attempts

Attempts before giving up (default 10; 0 = unlimited). When they are
exhausted, commands waiting for the connection fail with
L<Future::IO::Redis::Error::Disconnected>; a later command starts a new
round of attempts.

=item on_connect, on_disconnect, on_error

Callbacks C<($redis)>, C<($redis, $reason)> and C<($redis, $error)>. After a
drop they fire in the order on_disconnect (reason C<connection_lost>),
on_error, then on_connect once the connection is back. C<disconnect> fires
on_disconnect with reason C<client_disconnect>. A callback that dies is
reported with C<warn> and does not disturb the client.

=item protocol

2 (default) or 3. Under RESP3 maps arrive as hash references.

=item pipeline_depth

The most commands a L</pipeline> takes unless given its own C<max_depth>,
and the size of the batches C<auto_pipeline> sends. Default 10000.

=item auto_pipeline

With C<< auto_pipeline => 1 >> the commands issued during one turn of the
event loop are handed to the core together at the end of it, up to
C<pipeline_depth> per batch; each keeps its own future, reply and error,
and the order of the client's commands is kept (a pipeline or transaction
sends what was gathered first). Without it, commands issued together are
still written to the socket together by the core, so throughput is about
the same either way (measured with C<script/bench>); the option bounds each
batch and costs a loop turn of latency per command. Default 0.

=item prefix

A namespace put in front of every key of every command the client sends,
C<command> included: C<< prefix => 'app:' >> makes C<< get('user:1') >> read
C<app:user:1>. The keys are found from the server's key specifications (see
L<Future::IO::Redis::KeyExtractor>), so numkeys forms (EVAL, FCALL,
ZUNIONSTORE, LMPOP ...), XREAD's STREAMS, SORT's STORE, MIGRATE's KEYS and
sub-commands (OBJECT ENCODING, XINFO STREAM) are covered; values, hash
fields, channels and patterns are not touched (SCAN's MATCH and KEYS take
patterns: include the prefix in them yourself). Replies are not
unprefixed. The prefix and the keys are joined as bytes (text is sent as
UTF-8).

=item debug

C<1> logs every command sent, every reply (by shape: C<OK>, C<integer>,
C<string[5]>, C<array[3]>), every error and connection event to STDERR
(C<warn>), as lines like C<[REDIS SEND] SET user:1 ?>; a code reference is
called as C<< ($direction, $line) >> instead (C<send>, C<recv>, C<error>,
C<event>). Commands show their keys, never their values, and secrets
(AUTH, HELLO AUTH, CONFIG SET requirepass ...) as C<[REDACTED]>. Each
connection attempt logs its handshake (C<AUTH [REDACTED]>, C<SELECT ?> ...).

=item otel_tracer, otel_meter, otel_include_args (1), otel_redact (1)

An OpenTelemetry tracer (or any object with C<create_span>) gets a span per
command (C<redis.GET>), per pipeline (C<redis.PIPELINE>), per transaction
(C<redis.MULTI>) and per handshake command; a meter (C<create_counter>,
C<create_histogram>, C<create_up_down_counter>) gets
C<redis.commands.total>, C<redis.commands.duration> (milliseconds, measured
by the Rust core between handing the command to the connection and its
reply), C<redis.connections.active>, C<redis.errors.total>,
C<redis.reconnects.total> and C<redis.pipeline.size>.
C<< otel_include_args => 0 >> leaves only the command name in
C<db.statement>; C<< otel_redact => 0 >> shows every argument, values
included, but still never a password. C<OTEL_SEMCONV_STABILITY_OPT_IN=database> (or C<database/dup>)
switches to (or adds) the stable OpenTelemetry attribute names. See
L<Future::IO::Redis::Telemetry> for names, attributes and formats. Without
these options nothing is measured and the command path is unchanged.

=back

=head1 METHODS

=head2 connect

    await $redis->connect;

Connects (TCP or unix socket, TLS, AUTH, SELECT, CLIENT SETNAME) and yields
the client. Calling it when connected yields at once. A failed handshake
(wrong password, bad database) fails with a typed error and leaves the
client disconnected. A command issued before the first successful
C<connect> connects implicitly (so a client whose server was not up yet
simply tries again on next use). While C<reconnect> is re-establishing a
dropped connection, C<connect> makes one attempt at once and reports it; the
background attempts go on either way.

=cut

sub connect {
    my ($self) = @_;
    delete $self->{_closed};
    if ( $self->{_connected} && $self->{_pid} == $$ ) {
        return Future::IO::Redis::Bridge::new_future()->done($self);
    }
    my $f = Future::IO::Redis::Bridge::new_future();
    my ( $status, @detail ) = $self->_handle->connect;
    return $f->fail( _command_error( ['CONNECT'], @detail ) ) if $status;
    return $self->_track( $detail[0], $f, 'CONNECT' )->transform( done => sub { $self } );
}

=head2 disconnect

    $redis->disconnect;

Closes the connection at once (no QUIT round trip), fails every command
still waiting with L<Future::IO::Redis::Error::Disconnected>, and fires
C<on_disconnect> once with reason C<client_disconnect>. Commands fail with
C<Disconnected> until C<connect> is called again.

=cut

sub disconnect {
    my ($self) = @_;
    $self->_after_fork if $self->{_pid} != $$;    # (the parent's connection is not ours)
    my $was = $self->{_connected};
    return $self if $self->{_closed};
    $self->{_closed} = 1;
    $self->_detach_core(
        Future::IO::Redis::Error::Disconnected->new(
            message => 'disconnected by the client',
            reason  => 'client_disconnect'
        )
    );
    $self->_callback( on_disconnect => 'client_disconnect' ) if $was;
    return $self;
}

# Lets go of the core's client: pending futures fail with $err, the core
# closes the connection once the handle is freed, and the object takes a
# new id, so no event or reply still queued for the old one can reach it
# (a late "connected" must not make a closed client look connected).
sub _detach_core {
    my ( $self, $err ) = @_;
    my $old = $self->{_id};

    # Commands this tick queued and not yet sent.
    if ( my $queue = delete $self->{_auto} ) {
        for my $entry (@$queue) {
            next if $entry->[0]->is_ready;
            my $f = $entry->[0];
            eval { $f->fail($err); 1 } or warn "Future::IO::Redis: callback died: $@";
        }
    }
    $self->_lost_transaction;
    $self->_end_subscription;
    if ( my $telemetry = $self->{_telemetry} ) {
        my $connected = $self->{_connected};
        _safely(
            $telemetry,
            sub {
                $self->_end_handshake($err);
                $telemetry->disconnected( $err && $err->can('reason') ? $err->reason : undef )
                    if $connected;
            }
        );
    }
    delete $Future::IO::Redis::Bridge::CLIENTS{$old};
    Future::IO::Redis::Bridge::fail_client( $old, $err ) if $err;
    delete $Future::IO::Redis::Bridge::INFLIGHT{$old};
    delete $self->{_handle};
    $self->{_connected} = 0;
    $self->{_id}        = Future::IO::Redis::_XS::next_id();
    return;
}

=head2 is_connected

    $bool = $redis->is_connected;

True while a connection is up (as last reported by the core).

=cut

sub is_connected {
    my ($self) = @_;
    return $self->{_connected} && $self->{_pid} == $$ ? 1 : 0;
}

=head2 inflight_count

    $n = $redis->inflight_count;

Commands sent and not yet answered.

=cut

sub inflight_count {
    my ($self) = @_;
    return 0 if $self->{_pid} != $$;
    return $Future::IO::Redis::Bridge::INFLIGHT{ $self->{_id} } // 0;
}

=head2 command

    $reply = await $redis->command( @words );

Sends any command, including ones this module has no method for. Replies:
nil is C<undef>, integers are numbers, strings (bulk, status, verbatim, big
numbers) are byte strings, arrays and sets are array references, RESP3 maps
are hash references, RESP3 booleans are 1 or 0, and RESP3 doubles are the
server's exact text that is also a number (an NV alone would print only 15
digits); an error reply fails the future with
L<Future::IO::Redis::Error::Redis>, and an error inside an array (EXEC)
stays in its slot as such an object. Strings with Perl's UTF-8
flag are sent as UTF-8 bytes. An undefined argument, a reference (other than
an object that stringifies) or a non-string command name fails with
L<Future::IO::Redis::Error> before anything is sent, and the client stays
usable. So do SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBE forms,
MONITOR and CLIENT REPLY: on a connection that many callers share they would
make replies reach the wrong caller (use L</"subscribe, psubscribe, ssubscribe">, which
keep track of the connection's state); and RESET and HELLO with arguments, which would silently undo the
user, database, name or protocol the client set up (use the options).
Error and status replies are bytes like any other: a binary key named in an
error message does no harm.

SELECT, AUTH and CLIENT SETNAME, as methods or through C<command>, last
beyond the connection: once the server answers one with OK, reconnects (and
a client rebuilt after C<disconnect> or C<fork>) restore that database, user
or name, and C<< $redis->{database} >>, C<{username}>, C<{password}> or
C<{client_name}> follow (also when the caller cancelled its future). Inside
MULTI they count once EXEC shows every queued command ran, and not at all
when the transaction is discarded or aborted. When one of them (or such an
EXEC) times out, or a command inside such a transaction fails, the
connection is reset rather than left in a state nobody knows: the usual
drop events fire, and the next command connects afresh, as configured,
whether or not C<reconnect> is on. This holds for the same commands inside a
L</pipeline> or L</multi> as well.

A raw MULTI ... EXEC sent with C<command> is not protected from commands
that other callers issue on the same client at the same time; L</multi>
and L</pipeline> are (they travel in one piece).

=cut

# Commands a connection shared by many callers cannot take: after the
# first group the server's replies no longer answer commands one by one (they
# would misroute); RESET and HELLO with arguments silently undo what the
# client set up (user, database, name, protocol) while it still looks fine.
my %REFUSED = (
    (
        map { $_ => 'subscriber' }
            qw(SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE
            SUNSUBSCRIBE MONITOR)
    ),
    RESET => 'setup',
);

# (Evals, not closures, on this path: it runs for every command.)
sub command {
    return &_send_command unless $_[0]{_telemetry};
    my $self      = shift;
    my $telemetry = $self->{_telemetry};
    my $context   = eval { $telemetry->start( \@_ ) } // _telemetry_failed($telemetry);
    local $OBSERVING = $context;
    my $f = eval { $self->_send_command(@_) } // _send_died( $telemetry, $context );
    return $self->_observe( $context, $f );
}

# A send that died (an argument whose stringification dies): the
# operation's telemetry ends before the error goes on to the caller.
sub _send_died {
    my ( $telemetry, $context ) = @_;
    my $error = $@;
    _safely( $telemetry, sub { $telemetry->finish( $context, Future->fail($error) ) } ) if $context;
    die $error;
}

# The operation's future, with its telemetry finished when it is ready.
sub _observe {
    my ( $self, $context, $f ) = @_;
    my $telemetry = $self->{_telemetry};
    $f->on_ready(
        sub {
            eval { $telemetry->finish( $context, $_[0] ); 1 } or _telemetry_failed($telemetry);
        }
    ) if $context;
    return $f;
}

# What command does inline, for the other operations: $start (given the
# telemetry) makes the operation's context, $send sends it.
sub _send_observed {
    my ( $self, $start, $send ) = @_;
    my $telemetry = $self->{_telemetry};
    my $context   = _safely( $telemetry, sub { $start->($telemetry) } );
    local $OBSERVING = $context;
    my $f = eval { $send->() } // _send_died( $telemetry, $context );
    return $self->_observe( $context, $f );
}

# Reports $@ from telemetry (the first time for this client); gives undef.
sub _telemetry_failed {
    my ($telemetry) = @_;
    warn
        "Future::IO::Redis: telemetry failed (further failures of this client are not reported): $@"
        unless $telemetry->{_failed}++;
    return undef;
}

# Telemetry runs the user's tracer, meter and debug logger: their failure
# must not fail a command, nor stop the bridge or a future's callbacks. It
# is reported once per client.
sub _safely {
    my ( $telemetry, $code ) = @_;
    my $result;
    return $result if eval { $result = $code->(); 1 };
    return _telemetry_failed($telemetry);
}

sub _send_command {
    my $self = shift;
    if (  !( defined $_[0] && !ref $_[0] && $PLAIN_NAME{ $_[0] } )
        && ( my $error = _refusal_error( \@_ ) ) ) {
        return _refuse($error);
    }
    return _refuse( _closed_error( $_[0] ) ) if $self->{_closed};
    return _refuse( _subscribed_error( $_[0] ) )
        if $self->{_subscription} && $self->{protocol} == 2 && $self->{_pid} == $$;
    return $self->_auto_queue( \@_ ) if $self->{auto_pipeline};
    $self->_flush_auto               if $self->{_auto};

    # Only now the core client: a refused command, or one on a client that
    # was disconnected, must not start one.
    my $handle = $self->{_pid} == $$ && $self->{_handle} || $self->_handle;
    my $f      = Future::IO::Redis::Bridge::new_future();

    # (0, request id), or (status, error kind, message, index of a bad argument)
    my ( $status, @detail )
        = defined $self->{prefix}
        ? $handle->command( -1, $_[0], _prefixed( $self->{prefix}, @_ ) )
        : $handle->command( -1, @_ );
    if ($status) {
        _unsent($ON_REPLY);
        return $f->fail( _command_error( \@_, @detail ) );
    }
    return $self->_track( $detail[0], $f, $_[0] );
}

# The error for a command no shared connection can take, if it is one.
sub _refusal_error {
    my ($cmd) = @_;
    my $name = $cmd->[0];

    # Compare what will be sent: an object that stringifies counts too.
    my $word = defined $name ? _word("$name") : '';
    if (   $REFUSED{$word}
        || ( $word eq 'HELLO' && @$cmd > 1 )
        || ( $word eq 'CLIENT' && @$cmd > 1 && defined $cmd->[1] && _word("$cmd->[1]") eq 'REPLY' )
    ) {
        return Future::IO::Redis::Error->new( message => _refusal($word) );
    }

    # A name that is fine whatever its arguments need not be looked at again
    # (a bounded cache: names can be anything).
    $PLAIN_NAME{$name} = 1
        if defined $name
        && !ref $name
        && length $name <= 32
        && $word ne 'HELLO'
        && $word ne 'CLIENT'
        && !$TX_WORD{$word}
        && keys %PLAIN_NAME < 2048;
    return;
}

# --- auto-pipelining: a tick's commands go to the core together -------------

sub _auto_queue {
    my ( $self, $cmd ) = @_;
    $self->_after_fork if $self->{_pid} != $$;
    my $f = Future::IO::Redis::Bridge::new_future();

    # Copied now (a tied argument is read here) and objects stringified
    # now: user code that dies must die in the caller, not in the loop.
    my @words = defined $self->{prefix} ? _with_prefix( $self->{prefix}, $cmd ) : @$cmd;
    for (@words) {
        $_ = "$_" if ref $_ && blessed $_ && overload::Method( $_, '""' );
    }
    my $queue = $self->{_auto} //= [];
    push @$queue, [ $f, \@words, $ON_REPLY, $OBSERVING ];
    if ( @$queue == 1 ) {
        weaken( my $weak = $self );
        Future::IO::Redis::Bridge::later( sub { $weak->_flush_auto if $weak } );
    }
    return $f;
}

# Sends what this tick queued, pipeline_depth commands per batch. Futures
# that fail here (bad input) fail once everything else is sent: their
# callbacks must not get ahead of commands issued before them.
sub _flush_auto {
    my ($self) = @_;
    $self->_after_fork if $self->{_pid} != $$;    # fails the parent's queue
    my $queue = delete $self->{_auto} or return;
    my ( @failed, @batch );
    my $ok = eval {
        my $handle = $self->{_handle} || $self->_handle;
        while (@$queue) {
            @batch = splice @$queue, 0, $self->{pipeline_depth};

            # Cancelled before it went out: not sent (its hook hears so).
            _unsent( $_->[2] ) for grep { $_->[0]->is_ready } @batch;
            @batch = grep { !$_->[0]->is_ready } @batch;
            next unless @batch;

            # (0, id ...), or (status, kind, message, bad command, its bad word)
            my ( $status, @detail ) = $handle->commands( [ map { $_->[1] } @batch ] );
            if ( $status && defined $detail[2] ) {

                # Bad input in one command: it fails, the others go.
                my ($bad) = splice @batch, $detail[2], 1;
                push @failed,
                    [ $bad->[0], _command_error( $bad->[1], @detail[ 0, 1, 3 ] ), $bad->[2] ];
                unshift @$queue, @batch;
                next;
            }
            if ($status) {
                push @failed,
                    map { [ $_->[0], _command_error( $_->[1], @detail ), $_->[2] ] } @batch;
                next;
            }
            for my $i ( 0 .. $#batch ) {
                local $ON_REPLY  = $batch[$i][2];
                local $OBSERVING = $batch[$i][3];
                $self->_track( $detail[$i], $batch[$i][0], $batch[$i][1][0] );
            }
            @batch = ();
        }
        1;
    };
    unless ($ok) {

        # (Cannot start the core client: what is left fails with why.)
        my $error = blessed $@ ? $@ : Future::IO::Redis::Error->new( message => "$@" );
        push @failed, map { [ $_->[0], $error, $_->[2] ] } @batch, @$queue;
    }
    for (@failed) {
        my ( $f, $error, $hook ) = @$_;
        _unsent($hook);
        next if $f->is_ready;
        eval { $f->fail($error); 1 } or warn "Future::IO::Redis: callback died: $@";
    }
    return;
}

# Sends commands (already prefixed) as one batch; yields the array of replies.
#
# $pin, [client id, connection generation]: only on that connection (the
# one a transaction's WATCH went on), else fail unsent.
sub _send_batch {
    return &_send_batch_now unless $_[0]{_telemetry};
    my ( $self, $commands, $what ) = @_;
    my @args = @_;

    # (A transaction is measured by what it holds, without MULTI and EXEC.)
    return $self->_send_observed(
        sub {
            $_[0]->start_batch( $what,
                $what eq 'MULTI' ? [ @$commands[ 1 .. $#$commands - 1 ] ] : $commands );
        },
        sub { _send_batch_now(@args) }
    );
}

sub _send_batch_now {
    my ( $self, $commands, $what, $pin ) = @_;
    return _refuse( _closed_error($what) ) if $self->{_closed};
    return _refuse( _subscribed_error($what) )
        if $self->{_subscription} && $self->{protocol} == 2 && $self->{_pid} == $$;
    $self->_flush_auto if $self->{_auto};
    my $handle = $self->{_pid} == $$ && $self->{_handle} || $self->_handle;
    my $f      = Future::IO::Redis::Bridge::new_future();
    if ( $pin && $pin->[0] != $self->{_id} ) {
        return $f->fail(
            Future::IO::Redis::Error::Connection->new(
                message => "$what: the connection the transaction's WATCH was sent on is gone "
                    . '(WATCH does not survive a reconnect); nothing was sent',
                reason => 'lost'
            )
        );
    }
    my ( $status, @detail ) = $handle->batch( -1, $pin ? $pin->[1] // 0 : 0, $commands );
    if ( $status && defined $detail[2] ) {
        my $cmd = $commands->[ $detail[2] ];
        my $err = _command_error( ref $cmd eq 'ARRAY' ? $cmd : [], @detail[ 0, 1, 3 ] );

        # Counted as the caller queued them (MULTI is ours).
        my $n = $detail[2] - ( $what eq 'MULTI' ? 1 : 0 );
        return $f->fail(
            Future::IO::Redis::Error->new( message => lc($what) . " command $n: " . $err->message )
        );
    }
    return $f->fail( _command_error( [$what], @detail ) ) if $status;
    return $self->_track( $detail[0], $f, $what );
}

# The command with the prefix applied to its keys.
sub _with_prefix {
    my ( $prefix, $cmd ) = @_;
    return () unless @$cmd;
    return ( $cmd->[0], _prefixed( $prefix, @$cmd ) );
}

# (Loaded here too: the prefix may have been set after new.)
sub _prefixed {
    require Future::IO::Redis::KeyExtractor
        unless defined &Future::IO::Redis::KeyExtractor::apply_prefix;
    return &Future::IO::Redis::KeyExtractor::apply_prefix;    # with this @_
}

# A command word as the server compares it: case-insensitive, and only up
# to a NUL byte (strcasecmp: "SUBSCRIBE\0x" may run as SUBSCRIBE).
sub _word {
    my $word = uc $_[0];
    my $nul  = index $word, "\0";
    return $nul < 0 ? $word : substr $word, 0, $nul;
}

# Registers a request sent to the core: its reply resolves $f.
sub _track {
    my ( $self, $id, $f, $name ) = @_;
    $Future::IO::Redis::Bridge::PENDING{$id} = [ $f, $self->{_id}, $name, $ON_REPLY, $OBSERVING ];
    $Future::IO::Redis::Bridge::INFLIGHT{ $self->{_id} }++;
    return $f;
}

# What a command on a client after disconnect fails with.
sub _closed_error {
    my ($name) = @_;
    return Future::IO::Redis::Error::Disconnected->new(
        message => ( $name // 'command' ) . ': not connected (disconnect was called)',
        reason  => 'client_disconnect'
    );
}

sub _refuse {
    _unsent($ON_REPLY);
    return Future::IO::Redis::Bridge::failed_future( $_[0] );
}

# A hooked command that is not sent after all: its hook hears so (a manual
# WATCH that never went out must give the gate back).
sub _unsent {
    my ($hook) = @_;
    return unless $hook;
    eval { $hook->( 0, [ 0, 0, '', 'not sent' ] ); 1 } or warn "Future::IO::Redis: $@";
    return;
}

sub _refusal {
    my ($uc) = @_;
    return 'CLIENT REPLY would make replies go to the wrong callers; it is refused'
        if $uc eq 'CLIENT';
    return
          "$uc would undo the connection's setup (user, database, name, protocol) "
        . 'behind the client\'s back; use the username, password, database, client_name '
        . 'and protocol options'
        if $uc eq 'RESET' || $uc eq 'HELLO';
    return "$uc would turn the shared connection into a subscriber and break reply order;"
        . ' use the subscribe, psubscribe and ssubscribe methods';
}

# The typed error for a command the core would not take.
sub _command_error {
    my ( $cmd, $kind, $message, $index ) = @_;
    if ( defined $index ) {
        return Future::IO::Redis::Error->new( message => 'command: no command given' )
            unless @$cmd;
        return Future::IO::Redis::Error->new(
            message => "command: the command name must be a non-empty string (it $message)" )
            if $index == 0;
        return Future::IO::Redis::Error->new( message => "$cmd->[0]: argument $index $message" );
    }
    my $class
        = $kind && $kind == FIOR_ERR_INVALID
        ? 'Future::IO::Redis::Error'
        : 'Future::IO::Redis::Error::Disconnected';
    return $class->new( message => "$cmd->[0]: " . ( $message // 'client is not usable' ) );
}

=head2 Commands

    $value = await $redis->get( $key );
    $n     = await $redis->hset( $key, field => $value, other => $value2 );
    $enc   = await $redis->object_encoding( $key );       # OBJECT ENCODING key
    @conf  = @{ await $redis->config_get('maxmemory') };  # CONFIG GET maxmemory

Every command the server lists has a method, generated from its command
table: see L<Future::IO::Redis::Commands> for the list, with the syntax of
each. The methods below are written by hand because they take or give more
than the server's words.

=head2 set

    $ok = await $redis->set( $key, $value );
    $ok = await $redis->set( $key, $value, ex => 10, nx => 1 );
    $ok = await $redis->set( $key, $value, 'EX', 10, 'NX' );

Options C<ex px exat pxat> take a value, C<nx xx keepttl get> are flags; in
the hash style a false flag value (0, '' or undef) leaves the flag out. Yields C<OK>, or
C<undef> when C<nx>/C<xx> blocked the write (with C<get>, the old value).

=head2 hgetall

    $hash = await $redis->hgetall( $key );    # { field => value, ... }

A hash reference (empty when the key does not exist), under either protocol.

=head2 info

    $info = await $redis->info;               # every section
    $info = await $redis->info('memory');
    say $info->{server}{redis_version};

The reply as C<< { section => { key => value } } >>, section names in lower
case (C<server>, C<clients>, C<keyspace> ...). Values are kept as the server
writes them (C<db0> is C<keys=1,expires=0,avg_ttl=0>).

=head2 time

    $t = await $redis->time;    # { seconds => ..., microseconds => ... }

The server's clock.

=cut

sub hgetall {
    my $self = shift;
    return $self->command( 'HGETALL', @_ )->transform( done => \&_hash_from_pairs );
}

sub info {
    my $self = shift;
    return $self->command( 'INFO', @_ )->transform( done => \&_info_sections );
}

sub time {
    my $self = shift;
    return $self->command( 'TIME', @_ )->transform( done => \&_time_hash );
}

# RESP2 gives a flat field/value list, RESP3 a map (already a hash).
sub _hash_from_pairs {
    my ($reply) = @_;
    return $reply if ref $reply eq 'HASH';
    return { @{ $reply // [] } };
}

sub _info_sections {
    my ($text) = @_;
    my ( %info, $section );
    for my $line ( split /\r?\n/, $text // '' ) {
        if ( $line =~ /\A#\s*(.+?)\s*\z/ ) {
            $section = $info{ lc $1 } //= {};
        }
        elsif ( $line =~ /\A([^:]+):(.*)\z/ ) {
            ( $section //= $info{default} //= {} )->{$1} = $2;
        }
    }
    return \%info;
}

sub _time_hash {
    my ($reply) = @_;
    return { seconds => $reply->[0], microseconds => $reply->[1] };
}

my %SET_VALUE_OPTION = map { $_ => 1 } qw(ex px exat pxat);
my %SET_FLAG         = map { $_ => 1 } qw(nx xx keepttl get);

sub set {
    my ( $self, $key, $value, @opts ) = @_;
    my @words;
    while (@opts) {
        my $word = shift @opts;
        my $lc   = defined $word && !ref $word ? lc $word : '';
        if ( $SET_VALUE_OPTION{$lc} ) {
            push @words, uc $lc, shift @opts;
        }
        elsif ( $SET_FLAG{$lc} ) {

            # Hash style gives flags a value (nx => 1); word style does not.
            my $on = 1;

            # (nx => undef is off, like nx => 0.)
            if (
                @opts
                && (
                    !defined $opts[0]
                    || (   !ref $opts[0]
                        && !$SET_VALUE_OPTION{ lc $opts[0] }
                        && !$SET_FLAG{ lc $opts[0] } )
                )
            ) {
                $on = shift @opts;
            }
            push @words, uc $lc if $on;
        }
        else {
            push @words, $word;    # left for the server to judge
        }
    }
    return $self->command( 'SET', $key, $value, @words );
}

=head2 pipeline

    my $p = $redis->pipeline;                    # max_depth: pipeline_depth
    my $p = $redis->pipeline( max_depth => 100 );
    $p->set( a => 1 )->incr('a')->get('a');
    my $replies = await $p->execute;             # [ 'OK', 2, '2' ]

A L<Future::IO::Redis::Pipeline>: commands queued on it travel to the server
in one piece and come back as one array, errors in their slots.

=cut

sub pipeline {
    my ( $self, %opt ) = @_;
    return Future::IO::Redis::Pipeline->new( %opt, client => $self );
}

=head2 multi

    my $results = await $redis->multi( async sub {
        my ($tx) = @_;
        $tx->incr('a')->get('a');
    } );    # [ 1, '1' ]

Runs the callback with a L<Future::IO::Redis::Transaction>, waits for the
future it returns, then sends MULTI, the commands queued on the transaction
and EXEC in one piece: no other command of this client can come between
them. Yields EXEC's results (hgetall, info and time shaped as usual; a
command that failed leaves its L<Future::IO::Redis::Error::Redis> in its
slot), or C<undef> when a watched key changed. When the callback dies or its
future fails, nothing is sent and C<multi> fails with that error. A command
the server refuses to queue (wrong number of arguments ...) aborts the
whole transaction: C<multi> fails with an C<EXECABORT> error that names the
reason. Called without a callback it is C<multi_start> (below).

A plain C<multi> does not wait for others; it is sent after any
L</watch_multi> section of the same client that is in progress, because
its EXEC would clear that section's WATCH (so do not start a transaction on
the same client from inside a C<watch_multi> callback: it would wait for
the callback, which waits for it). After a manual C<watch> it is the
transaction that WATCH guards: it is sent at once and ends the WATCH. A
pipeline holding MULTI, EXEC, DISCARD, WATCH or UNWATCH waits for a
section in progress the same way; the same words sent with C<command> do
not.

=head2 watch_multi

    my $results = await $redis->watch_multi( [ 'balance', 'log' ], async sub {
        my ( $tx, $values ) = @_;
        $tx->set( balance => $values->{balance} - 10 );
        $tx->rpush( log => 'paid 10' );
    } );
    # undef: a watched key changed before EXEC; try again

WATCHes the keys, reads each one with the command for its type (a string
as is, a hash as a hash reference, a list with LRANGE, a set as a sorted
array, a sorted set as member, score, ... pairs, a stream with XRANGE, a
missing key as C<undef>) into C<$values>, runs the callback, then sends
MULTI ... EXEC as L</multi> does. When the callback fails, UNWATCH is sent
and C<watch_multi> fails with the callback's error.

A client runs one such section at a time: WATCH belongs to the connection,
and any EXEC on it would clear another section's keys. Concurrent
C<watch_multi> calls on one client wait for each other in order (use more
clients, or a L<Future::IO::Redis::Pool>, for parallel ones). WATCH does not
survive a reconnect: when the connection it was sent on is gone before EXEC
goes out, C<watch_multi> fails with L<Future::IO::Redis::Error::Connection>
and nothing is sent (the core checks this as it writes, so a transaction
never runs unguarded on a new connection); try again.

=cut

sub multi {
    my ( $self, $code ) = @_;
    return $self->multi_start unless defined $code;
    croak 'multi: give a code reference (async sub { my $tx = shift; ... })'
        unless ref $code eq 'CODE';
    return Future::IO::Redis::Transaction::run_multi( $self, $code );
}

sub watch_multi {
    my ( $self, $keys, $code ) = @_;
    croak 'watch_multi: give a code reference' unless ref $code eq 'CODE';
    return Future::IO::Redis::Transaction::run_watch_multi( $self, $keys, $code );
}

=head2 watch, unwatch, multi_start, exec, discard

    await $redis->watch(@keys);
    await $redis->multi_start;
    $redis->incr('a');                 # 'QUEUED'
    my $results = await $redis->exec;  # or await $redis->discard;

The transaction commands by hand, for a client one caller uses at a time (a
connection taken from a pool): between C<multi_start> and C<exec> every
command of the client is part of the transaction. From the first C<watch>
or C<multi_start> until C<exec>, C<discard>, an C<unwatch> outside MULTI or
a dropped connection, other WATCH sections of this client (L</watch_multi>)
wait, and a L</multi> is sent at once as the transaction that WATCH
guards. Await C<watch> and C<multi_start>: when
such a transaction is in progress they are sent after it, and so are
C<exec>, C<discard> and C<unwatch> called outside a section of their own.
After a reconnect the server has forgotten MULTI and WATCH: check
C<in_multi> before trusting C<exec>.

=head2 in_multi, watching

True once the server has confirmed MULTI (or a WATCH); false again after
EXEC, DISCARD (both also end WATCH), UNWATCH, or a dropped connection.

=cut

sub watch {
    my ( $self, @keys ) = @_;
    local $ON_REPLY = $self->_section_hook('_watching');
    return Future::IO::Redis::Transaction::manual_start( $self, 'WATCH', @keys );
}

sub multi_start {
    my ($self) = @_;
    local $ON_REPLY = $self->_section_hook('_in_multi');
    return Future::IO::Redis::Transaction::manual_start( $self, 'MULTI' );
}

# WATCH or MULTI by hand: its flag is set once the server says OK; anything
# else may end the manual section.
sub _section_hook {
    my ( $self, $flag ) = @_;
    weaken( my $weak = $self );
    return sub {
        my ( $ok, $reply ) = @_;
        return unless $weak;
        if ( $ok && ( $reply // '' ) eq 'OK' ) { $weak->{$flag} = 1 }
        else                                   { $weak->_end_if_idle }
    };
}

sub unwatch {
    my ($self) = @_;
    weaken( my $weak = $self );
    local $ON_REPLY = sub {
        my ($ok) = @_;
        return unless $weak && $ok;
        $weak->{_watching} = 0;
        $weak->_end_if_idle;
    };
    return Future::IO::Redis::Transaction::outside_sections( $self,
        sub { $self->command('UNWATCH') } );
}

sub exec {
    my ($self) = @_;
    return $self->_end_transaction('EXEC');
}

sub discard {
    my ($self) = @_;
    return $self->_end_transaction('DISCARD');
}

# EXEC and DISCARD end MULTI and WATCH when they ran: a reply, EXEC's
# EXECABORT, or a timeout (the command is on the wire, and runs before
# anything sent later). "EXEC without MULTI" ends no WATCH, as on the server.
sub _end_transaction {
    my ( $self, $word ) = @_;
    weaken( my $weak = $self );
    local $ON_REPLY = sub {
        my ( $ok, $reply ) = @_;
        return unless $weak;
        if ( !$ok && $reply->[0] == 5 && $reply->[2] ne 'EXECABORT' ) {
            $weak->{_in_multi} = 0 if $reply->[3] =~ /without MULTI/;
        }
        else {
            $weak->{_in_multi} = $weak->{_watching} = 0;
        }
        $weak->_end_if_idle;
    };
    return Future::IO::Redis::Transaction::outside_sections( $self, sub { $self->command($word) } );
}

# A manual section is over once neither MULTI nor WATCH is in force.
sub _end_if_idle {
    my ($self) = @_;
    Future::IO::Redis::Transaction::manual_end($self)
        unless $self->{_in_multi} || $self->{_watching};
    return;
}

sub in_multi { $_[0]{_in_multi} ? 1 : 0 }
sub watching { $_[0]{_watching} ? 1 : 0 }

=head2 evalsha_or_eval

    $result = await $redis->evalsha_or_eval( $sha, $lua, $numkeys, @keys, @args );

EVALSHA, and EVAL when the server does not know the script (NOSCRIPT, as
after SCRIPT FLUSH or a restart). The prefix applies to the keys. The EVAL
goes out when the NOSCRIPT answer arrives, after any command issued
meanwhile; call C<< $script->load >> first where that order matters.

=head2 script

    my $script = $redis->script(<<'LUA');
        return redis.call('INCRBY', KEYS[1], ARGV[1])
    LUA
    $n = await $script->run( ['counter'], [5] );

A L<Future::IO::Redis::Script> (no I/O until it is called). To send the
SCRIPT command itself use C<script_load>, C<script_exists>, C<script_flush>
...

=cut

sub evalsha_or_eval {
    my ( $self, $sha, $lua, @rest ) = @_;
    return $self->command( 'EVALSHA', $sha, @rest )->else(
        sub {
            my ($err) = @_;
            return Future::IO::Redis::Bridge::failed_future(@_)
                unless blessed $err
                && $err->isa('Future::IO::Redis::Error::Redis')
                && $err->type eq 'NOSCRIPT';
            return $self->command( 'EVAL', $lua, @rest );
        }
    );
}

sub script {
    my ( $self, $lua ) = @_;
    require Future::IO::Redis::Script;
    return Future::IO::Redis::Script->new( client => $self, lua => $lua );
}

=head2 scan_iter, hscan_iter, sscan_iter, zscan_iter

    my $keys = $redis->scan_iter( match => 'user:*', count => 500, type => 'hash' );
    while ( my $batch = await $keys->next ) {
        say for @$batch;
    }
    my $fields = $redis->hscan_iter( $key, match => 'f*' );   # field, value, ...

A L<Future::IO::Redis::Iterator> over SCAN (options C<match>, C<count>,
C<type>), or HSCAN, SSCAN, ZSCAN of one key (C<match>, C<count>). As with
SCAN itself, a key may come twice across batches, and MATCH is a pattern:
on a client with a C<prefix>, include the prefix in it.

=cut

sub scan_iter {
    my ( $self, %opt ) = @_;
    require Future::IO::Redis::Iterator;
    return Future::IO::Redis::Iterator->new( client => $self, command => 'SCAN', %opt );
}

sub hscan_iter { shift->_key_iter( 'HSCAN', @_ ) }
sub sscan_iter { shift->_key_iter( 'SSCAN', @_ ) }
sub zscan_iter { shift->_key_iter( 'ZSCAN', @_ ) }

sub _key_iter {
    my ( $self, $command, $key, %opt ) = @_;
    croak lc($command) . '_iter: give the key' unless defined $key;
    require Future::IO::Redis::Iterator;
    return Future::IO::Redis::Iterator->new(
        client  => $self,
        command => $command,
        key     => $key,
        %opt
    );
}

=head2 subscribe, psubscribe, ssubscribe

    my $sub = await $redis->subscribe( 'news', 'alerts' );
    my $sub = await $redis->psubscribe('log.*');
    my $sub = await $redis->ssubscribe('orders:{eu}');
    while ( my $m = await $sub->next ) { ... }

Subscribes and yields the client's L<Future::IO::Redis::Subscription> once
the server has confirmed every name (calling them again adds to the same
subscription). Messages come in order, are buffered until read (bounded by
C<max_buffered_messages>), and survive a reconnect: the core subscribes
every name again before anything else. Under RESP2 the client can do
nothing else while subscribed (other commands fail with
L<Future::IO::Redis::Error::Protocol>); under C<< protocol => 3 >> it can.

=head2 unsubscribe, punsubscribe, sunsubscribe

    await $redis->unsubscribe('news');
    await $redis->unsubscribe;      # every channel

The same as on the client's subscription (nothing to do when there is
none).

=head2 unsubscribe_all

    await $redis->unsubscribe_all;

Every channel, pattern and sharded channel; the subscription is then over
(a pool cleans a connection returned subscribed this way).

=head2 is_pubsub

True while the client has a subscription (from the C<subscribe> call until
the last name is unsubscribed).

=cut

sub unsubscribe  { shift->_unsubscribe( 'unsubscribe',  @_ ) }
sub punsubscribe { shift->_unsubscribe( 'punsubscribe', @_ ) }
sub sunsubscribe { shift->_unsubscribe( 'sunsubscribe', @_ ) }

sub unsubscribe_all {
    my ($self) = @_;
    $self->_after_fork if $self->{_pid} != $$;
    my $sub = $self->{_subscription}
        or return Future::IO::Redis::Bridge::new_future()->done;
    return Future->needs_all( $sub->unsubscribe, $sub->punsubscribe, $sub->sunsubscribe )
        ->then( sub { Future::IO::Redis::Bridge::new_future()->done } );
}

sub _unsubscribe {
    my ( $self, $method, @names ) = @_;
    $self->_after_fork if $self->{_pid} != $$;
    my $sub = $self->{_subscription}
        or return Future::IO::Redis::Bridge::new_future()->done;
    return $sub->$method(@names);
}

sub subscribe  { shift->_subscribe( 'SUBSCRIBE',  @_ ) }
sub psubscribe { shift->_subscribe( 'PSUBSCRIBE', @_ ) }
sub ssubscribe { shift->_subscribe( 'SSUBSCRIBE', @_ ) }

sub _subscribe {
    my ( $self, $word, @names ) = @_;
    croak lc($word) . ': give at least one name' unless @names;
    $self->_after_fork if $self->{_pid} != $$;    # not the parent's subscription

    # Inside MULTI it would only be queued, and EXEC would subscribe the
    # connection behind the client's back.
    return _refuse(
        Future::IO::Redis::Error->new(
                  message => lc($word)
                . ': not inside MULTI (the transaction would subscribe the '
                . 'connection behind the client\'s back); exec or discard first'
        )
    ) if $self->{_in_multi} || $self->{_manual};

    # Under RESP2 a WATCH section could then not send its EXEC or UNWATCH.
    return _refuse(
        Future::IO::Redis::Error->new(
            message => lc($word) . ': not while a watch_multi is in progress on this RESP2 client'
        )
    ) if $self->{protocol} == 2 && $self->{_tx_gate} && $self->{_tx_gate}{held};
    require Future::IO::Redis::Subscription;
    $self->{_subscription} //= Future::IO::Redis::Subscription->new(
        client     => $self,
        max_buffer => $self->{max_buffered_messages}
    );
    return $self->{_subscription}->_request( $word, @names );
}

sub is_pubsub {
    my ($self) = @_;
    return $self->{_subscription} && $self->{_pid} == $$ ? 1 : 0;
}

# A SUBSCRIBE-like command: its future is done once the server confirmed
# every name (the confirmations themselves reach the subscription through
# _on_pubsub, before this).
sub _pubsub_request {
    return &_send_pubsub unless $_[0]{_telemetry};
    my ( $self, @words ) = @_;
    return $self->_send_observed( sub { $_[0]->start( \@words ) },
        sub { $self->_send_pubsub(@words) } );
}

sub _send_pubsub {
    my ( $self, $word, @names ) = @_;
    return _refuse( _closed_error($word) ) if $self->{_closed};
    $self->_flush_auto                     if $self->{_auto};
    my $handle = $self->{_pid} == $$ && $self->{_handle} || $self->_handle;
    my $f      = Future::IO::Redis::Bridge::new_future();
    my ( $status, @detail ) = $handle->pubsub( $word, @names );
    return $f->fail( _command_error( [ $word, @names ], @detail ) ) if $status;
    return $self->_track( $detail[0], $f, $word );
}

sub _subscribed_error {
    my ($name) = @_;
    return Future::IO::Redis::Error::Protocol->new( message => ( $name // 'command' )
            . ': the connection is in RESP2 pubsub mode (subscribed); '
            . 'unsubscribe first, use another client, or protocol => 3' );
}

# Pub/sub traffic from the core, in the server's order.
sub _on_pubsub {
    my ( $self, $value ) = @_;
    my $sub = $self->{_subscription} or return;
    $sub->_traffic($value);
    return;
}

# A SELECT, CLIENT SETNAME or AUTH the server accepted (src/session.rs): the
# core replays it on reconnect, and the options here follow, so a client
# rebuilt after disconnect or fork keeps it too.
sub _on_session {
    my ( $self, $what, $a, $b ) = @_;
    $self->{_telemetry}->set_database($a) if $what == 1 && $self->{_telemetry};
    if    ( $what == 1 ) { $self->{database}    = $a }
    elsif ( $what == 2 ) { $self->{client_name} = $a }
    elsif ( $what == 3 ) { $self->{client_name} = undef }
    elsif ( $what == 4 || $what == 5 ) {
        $self->{username} = $what == 5 ? $a : undef;
        $self->{password} = $b;
    }
    return;
}

# The subscription is over (a drop without reconnect, disconnect, fork).
sub _end_subscription {
    my ( $self, $error ) = @_;
    my $sub = delete $self->{_subscription} or return;
    $sub->_close($error);
    return;
}

# The server forgot MULTI and WATCH with the connection: so does the client,
# and a manual transaction's hold on the gate ends.
sub _lost_transaction {
    my ($self) = @_;
    $self->{_in_multi} = $self->{_watching} = 0;
    Future::IO::Redis::Transaction::manual_end($self) if $self->{_manual};
    return;
}

# Events from the core, in order.
sub _on_event {
    my ( $self, $event, $error, $detail ) = @_;
    if ( $event == EV_FAILED ) {

        # The core's task for this client died: fail its requests and start
        # a fresh one on next use.
        $self->_detach_core($error);
        $self->_callback( on_error => $error );
        return;
    }
    return if $self->{_closed};

    # The client's state first: telemetry and callbacks run user code,
    # which may look at it (or run the loop).
    my $was_connected = $self->{_connected};
    if ( $event == EV_CONNECTED ) {
        $self->{_connected}          = 1;
        $self->{_generation}         = $detail;
        $self->{_reconnect_attempts} = 0;         # (counted per outage)
    }
    elsif ( $event == EV_DISCONNECTED ) {
        $self->{_connected} = 0;
        $self->_lost_transaction;                 # a new connection has no MULTI or WATCH
        $self->_end_subscription unless $self->{reconnect};
    }
    elsif ( $event == EV_RECONNECTING ) {
        $self->{_reconnect_attempts}++;
    }
    if ( my $telemetry = $self->{_telemetry} ) {
        _safely( $telemetry, sub { $self->_report_event( $event, $error, $was_connected ) } );
    }
    if    ( $event == EV_CONNECTED )    { $self->_callback('on_connect') }
    elsif ( $event == EV_DISCONNECTED ) { $self->_callback( on_disconnect => 'connection_lost' ) }
    elsif ( $event == EV_ERROR )        { $self->_callback( on_error      => $error ) }
    elsif ( $event == EV_RESUBSCRIBED ) {
        $self->{_subscription}->_resubscribed if $self->{_subscription};
    }
}

# --- telemetry of the connection ---------------------------------------------

# A connection attempt starts (src/transport.rs handshake_commands).
sub _on_handshake {
    my ( $self, $commands ) = @_;
    my $telemetry = $self->{_telemetry} or return;
    $self->_end_handshake('superseded by a new connection attempt');

    # Kept before it is logged: a logger that runs the loop may see the
    # attempt end.
    my $started = $self->{_handshake}
        = _safely( $telemetry, sub { $telemetry->start_handshake($commands) } );
    _safely( $telemetry, sub { $telemetry->log_started($started) } ) if $started;
    return;
}

sub _end_handshake {
    my ( $self, $error ) = @_;
    my $started   = delete $self->{_handshake} or return;
    my $telemetry = $self->{_telemetry};
    _safely( $telemetry, sub { $telemetry->finish_handshake( $started, $error ) } );
    return;
}

# (Run through _safely: the telemetry is the user's code.)
sub _report_event {
    my ( $self, $event, $error, $was_connected ) = @_;
    my $telemetry = $self->{_telemetry};
    if ( $event == EV_CONNECTED ) {
        $self->_end_handshake;
        $telemetry->connected( $self->_endpoint );
    }
    elsif ( $event == EV_DISCONNECTED ) {
        $telemetry->disconnected( $error ? $error->message : undef ) if $was_connected;
    }
    elsif ( $event == EV_ERROR ) {

        # A failed attempt ends its handshake; a lost connection's error
        # was logged with the loss.
        if    ( $self->{_handshake} ) { $self->_end_handshake($error) }
        elsif ( !$self->{_connected} && $error ) {
            $telemetry->record_error($error) if $telemetry->{meter};
        }
    }
    elsif ( $event == EV_RECONNECTING ) {
        $telemetry->record_reconnect;
        $telemetry->log_event( reconnecting => 'attempt ' . ( $self->{_reconnect_attempts} // 1 ) );
    }
    elsif ( $event == EV_RESUBSCRIBED ) {
        $telemetry->log_event( resubscribed => $error ? $error->message : () );
    }
    return;
}

sub _endpoint {
    my ($self) = @_;
    return $self->{path} if defined $self->{path};
    return $self->{host} =~ /:/ ? "[$self->{host}]:$self->{port}" : "$self->{host}:$self->{port}";
}

sub _callback {
    my ( $self, $name, @args ) = @_;
    my $cb = $self->{$name} or return;
    eval { $cb->( $self, @args ); 1 } or warn "Future::IO::Redis: $name callback died: $@";
}

sub DESTROY {
    my ($self) = @_;
    return if ${^GLOBAL_PHASE} eq 'DESTRUCT';
    return if $self->{_pid} != $$;
    $self->_detach_core(
        Future::IO::Redis::Error::Disconnected->new(
            message => 'client was destroyed',
            reason  => 'client_destroyed'
        )
    );
}

1;

__END__

=head1 ERRORS

Futures fail with an error object as their only failure value, so C<await>
and C<< ->get >> die with the object itself; C<< $error->category >> gives
the category string (shown in brackets below).
See L<Future::IO::Redis::Error> for the classes:

=over 4

=item L<Future::IO::Redis::Error::Redis> (C<redis>)

The server answered with an error (C<type> is WRONGTYPE, NOSCRIPT, WRONGPASS
...). Also what a handshake the server rejects (bad password, unknown user,
bad database) fails C<connect> with.

=item L<Future::IO::Redis::Error::Connection> (C<connection>)

Could not connect (refused, TLS failure, no such socket), or the connection
dropped while the command was in flight: it may have run. Never retried.

=item L<Future::IO::Redis::Error::Timeout> (C<timeout>)

No reply within the deadline; C<maybe_executed> is true when the command had
been sent. The late reply is discarded; the connection stays usable. A
connect that takes longer than C<connect_timeout> fails with this too
(C<command> is C<CONNECT>).

=item L<Future::IO::Redis::Error::Disconnected> (C<disconnected>)

No connection and none coming: C<disconnect> was called, reconnect is off,
or its attempts ran out.

=item L<Future::IO::Redis::Error> (C<error>)

Bad input: no command, an undefined or reference argument.

=back

=head1 FORK AND THREADS

The client records the process id (C<< $redis->{_pid} >>; the core does
too). In a forked child the first use of an inherited client builds a fresh
runtime and connection; the child never reads, writes or shuts down anything
the parent still uses, so the parent keeps working, also when the child
exits normally. Futures made by the parent fail in the child with
C<Disconnected> (reason C<fork>). The same holds for a pool (the child opens
its own connections), a subscription (the child's client is not subscribed)
and a pipeline or auto-pipelined commands (the parent's queued commands fail
in the child; new ones go on the child's connection). Spans the parent
started are not ended in the child.

=head1 FUTURES

Every method returns a future of the running loop's class (under IO::Async
an C<IO::Async::Future>, so C<< ->get >> runs the loop). IO::Async's
C<< $loop->await($f) >> returns the future itself rather than its value, so
once done our futures also read as their value: as a string when the value
is a plain scalar (C<< $loop->await($redis->get('k')) eq 'v' >>), and for
the methods of an object they hold (C<< $loop->await($pool->acquire)->set(...) >>).
They stay true in boolean context and C<==> still compares futures. See
L<Future::IO::Redis::Future>.

The core has one completion queue per process, so one Perl interpreter at
a time may use it; when that interpreter ends (an ithread exiting), another
may take over. An ithread cloned after the module was loaded never frees the
parent's core objects (C<CLONE_SKIP>) and gets a clear error if it tries to
use the client, as does a second interpreter that loads the module while the
first one uses it: neither can take the other's replies, and the first is
not disturbed.

=head1 EVENT LOOPS

Load the L<Future::IO> implementation of your event loop (for instance
L<Future::IO::Impl::IOAsync>) before the first command. Under IO::Async the
client watches its wake-up descriptor with one persistent watch on that
loop; under any other implementation it keeps one readiness wait pending.
Without any implementation, Future::IO's built-in one serves a single
filehandle, which the client then uses: C<< ->get >> works, but other
Future::IO reads in the same program need a real loop.

=head1 SEE ALSO

L<Future>, L<Future::AsyncAwait>, L<Future::IO>,
L<Future::IO::Redis::Commands> (every command method),
L<Future::IO::Redis::KeyExtractor> (the prefix),
L<Future::IO::Redis::Pipeline>, L<Future::IO::Redis::Transaction>,
L<Future::IO::Redis::Script>, L<Future::IO::Redis::Iterator>,
L<Future::IO::Redis::Subscription>, L<Future::IO::Redis::Pool>,
L<Future::IO::Redis::Telemetry>, L<Future::IO::Redis::Future>,
L<Future::IO::Redis::Error>, L<Future::IO::Redis::URI>.

=head1 LICENSE

This library is free software; you can redistribute it and/or modify it
under the same terms as Perl itself.

=cut
