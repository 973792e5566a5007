package Future::IO::Redis::Bridge;

# Internal: the per-process link between the Rust core and the Perl event
# loop. One wake-up descriptor per process is watched through Future::IO;
# when it fires, one `drain` call takes every completion and this module
# resolves the waiting Futures in order.

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Future;
use Future::IO;
use IO::Handle;

use Future::IO::Redis::Error;
use Future::IO::Redis::Future;

# Record tags and event numbers, as in src/completion.rs.
use constant {
    TAG_REPLY   => 1,
    TAG_ERROR   => 2,
    TAG_EVENT   => 3,
    TAG_SESSION => 4,
    TAG_PUBSUB  => 5,
    TAG_TIMING  => 6,    # observed clients: the time on the wire
    TAG_HELLO   => 7,    # observed clients: a handshake's commands
};

my $PID    = 0;     # the process this state belongs to
my $CLONED = 0;     # true in an ithread cloned from the interpreter that ran us
my $OWNER_GUARD;    # lets the core go when this interpreter ends
my $WAKE_FH;        # handle on the core's wake-up descriptor
my $READER;         # pending readiness wait on it (loops other than IO::Async)
my $PROTO;          # a Future of the running loop's class
my @ABANDONED;      # inherited wake-up handles, kept open (see after_fork)
my @QUEUE;          # drained records not yet dispatched
my %LATER;          # pending end-of-tick sleeps (loops other than IO::Async)
my $MORE_LATER;     # a drain is scheduled for the rest of @QUEUE

our %PENDING;       # request id => [future, client id, command name, on_reply, telemetry]
our %INFLIGHT;      # client id => commands sent and not yet answered
our %CLIENTS;       # client id => client (weak)

my %ERROR_CLASS = (
    1 => 'Future::IO::Redis::Error::Connection',
    2 => 'Future::IO::Redis::Error::Timeout',
    3 => 'Future::IO::Redis::Error::Disconnected',
    4 => 'Future::IO::Redis::Error::Protocol',
    5 => 'Future::IO::Redis::Error::Redis',
);

# Starts the runtime for this process (again, after a fork) and starts
# watching its wake-up descriptor. Cheap when nothing changed.
sub ensure {
    return if $PID == $$;

    # The core has one completion queue per process: a second interpreter
    # draining it would take the first one's replies.
    die Future::IO::Redis::Error->new(
        message => 'Future::IO::Redis cannot be used from an ithread cloned after it was loaded; '
            . 'use it from the original thread (or load it only inside one thread)' )
        if $CLONED;
    after_fork() if $PID;
    my ( $status, @rest ) = Future::IO::Redis::_XS::runtime_fd();
    die Future::IO::Redis::Error->new( message => "cannot start the Redis runtime: $rest[1]" )
        if $status != 0;

    # A duplicate: closing it (at exit, or when this interpreter ends) must
    # never close the descriptor the core writes to.
    open( my $fh, '<&', $rest[0] )
        or
        die Future::IO::Redis::Error->new( message => "cannot watch the wake-up descriptor: $!" );
    $WAKE_FH = $fh;
    $PID     = $$;
    $OWNER_GUARD ||= bless [], 'Future::IO::Redis::Bridge::OwnerGuard';
    $PROTO //= _prototype();
    _watch();
}

# Runs in a new ithread's interpreter (perlmod, "Making your module
# threadsafe"): everything cloned here belongs to the parent's runtime.
sub CLONE {
    $CLONED   = 1;
    $PID      = -1;
    $READER   = undef;
    %PENDING  = ();
    %INFLIGHT = ();
    %CLIENTS  = ();
    @QUEUE    = ();
}

# Future::IO 0.13 has no constructor API: borrow the class (and, under
# IO::Async, the loop) from a future it makes, with our conveniences mixed
# in (Future::IO::Redis::Future).
sub _prototype {
    my $sleep = Future::IO->sleep(0);
    $sleep->cancel;
    return bless $sleep, Future::IO::Redis::Future::class_for( ref $sleep );
}

sub _watch {
    my ( $fh, $pid ) = ( $WAKE_FH, $$ );
    if ( $PROTO->isa('IO::Async::Future') && $PROTO->can('loop') ) {

        # IO::Async: one persistent watch on Future::IO's own loop, instead
        # of a chain of futures per wake-up (a third of a sequential
        # command's latency).
        my $loop = $PROTO->loop;
        $loop->watch_io(
            handle        => $fh,
            on_read_ready => sub {

                # Inherited by a forked child (or a cloned ithread): drop it
                # there, from inside the loop, which has re-made its poll set
                # for the child by then. Never read it: that steals wake-ups.
                return $loop->unwatch_io( handle => $fh, on_read_ready => 1 )
                    if $pid != $$ || $CLONED;
                sysread( $fh, my $count, 8 );
                drain();
            }
        );
        return;
    }

    # Future::IO's built-in implementation waits without select() when ours
    # is its only handle and takes it as ready: a blocking read then waits
    # for the core instead of spinning on EAGAIN.
    $fh->blocking(1) if ( $Future::IO::IMPL // '' ) eq 'Future::IO::_DefaultImpl';
    _arm_reader();
}

# Any other loop: keep one readiness wait pending on the descriptor, and
# read it ourselves only after checking that we are still the process (and
# interpreter) that owns it. A pending read would run in a forked child's
# or cloned thread's loop before any check of ours, and take the parent's
# wake-up with it.
sub _arm_reader {
    my $pid  = $$;
    my $impl = $Future::IO::IMPL;
    my $reads_itself;
    my $waiter;
    if ( $impl && $impl->can('ready_for_read') ) {
        $waiter = $impl->ready_for_read($WAKE_FH);
    }
    else {    # an implementation without ready_for_read: let it read
        $waiter       = Future::IO->sysread( $WAKE_FH, 8 );
        $reads_itself = 1;
    }
    $READER = $waiter;
    $waiter->on_ready(
        sub {
            my $f = shift;

            # on_ready also fires on cancel; a cancelled or inherited waiter
            # must never read or re-arm.
            return if $f->is_cancelled || $pid != $$ || $CLONED || !$READER || $READER != $f;
            warn "Future::IO::Redis: wake-up wait failed: ", scalar $f->failure, "\n"
                if $f->is_failed;
            sysread( $WAKE_FH, my $count, 8 ) unless $reads_itself;

            # Re-arm before dispatching, so code that runs a nested loop from a
            # callback still sees later completions.
            _arm_reader();
            drain();
        }
    );
}

# A forked child: the parent's runtime, descriptor and futures are not
# ours. Stop reading the descriptor but keep it open, so its number is not
# reused under a loop that keys watchers by file number. (An IO::Async
# watch removes itself when it first fires in the child.)
sub after_fork {
    if ($READER) {
        my $reader = $READER;
        undef $READER;
        $reader->cancel unless $reader->is_ready;
    }
    push @ABANDONED, $WAKE_FH if $WAKE_FH;
    undef $WAKE_FH;
    $PID        = 0;
    @QUEUE      = ();
    $MORE_LATER = 0;
    my @inherited = values %PENDING;
    %PENDING  = ();
    %INFLIGHT = ();

    for my $entry (@inherited) {
        my $f = $entry->[0];
        next if $f->is_ready;
        my $err = Future::IO::Redis::Error::Disconnected->new(
            message => 'request was made by the parent process before fork',
            reason  => 'fork'
        );
        eval { $f->fail($err); 1 } or warn $@;
    }
}

# Runs $code once the event loop has done what is ready now: at the end of
# this tick (auto-pipelining gathers the tick's commands until then).
sub later {
    my ($code) = @_;
    ensure() if $PID != $$;
    if ( $PROTO->isa('IO::Async::Future') && $PROTO->can('loop') ) {
        $PROTO->loop->later($code);
        return;
    }

    # Any other loop: a zero-second sleep, kept until it fires.
    my $sleep = Future::IO->sleep(0);
    $LATER{"$sleep"} = $sleep;
    $sleep->on_ready(
        sub {
            delete $LATER{"$sleep"};
            $code->() unless $_[0]->is_cancelled;
        }
    );
    return;
}

sub new_future {
    ensure() if $PID != $$;
    return $PROTO->new;
}

sub failed_future {
    my ($err) = @_;
    return new_future()->fail($err);
}

# Builds the typed error object for a core error record.
sub error_object {
    my ( $record, %context ) = @_;
    my ( $kind, $maybe, $detail, $message ) = @$record;
    my $class  = $ERROR_CLASS{$kind} // 'Future::IO::Redis::Error';
    my %fields = ( message => $message );
    if ( $kind == 2 ) {
        %fields = (
            %fields,
            command        => uc( $context{command} // q{} ),
            timeout        => $detail + 0,
            maybe_executed => $maybe ? 1 : 0
        );
    }
    elsif ( $kind == 5 ) {
        $fields{type} = $detail;

        # ACL SETUSER quotes a rule it refuses, password and all.
        if ( $fields{message} =~ /modifier '/ ) {
            require Future::IO::Redis::Telemetry;

            # (The rule may hold quotes: it ends at the last "': ".)
            $fields{message} =~ s{(?<=modifier ')(.*)(?=': )}
                {Future::IO::Redis::Telemetry::redact_acl_rule($1)}se;
        }
    }
    elsif ( $kind == 1 ) {
        my $client = $context{client};
        %fields = ( %fields, reason => $detail );
        if ($client) {
            %fields = (
                %fields,
                defined $client->{path}
                ? ( path => $client->{path} )
                : ( host => $client->{host}, port => $client->{port} )
            );
        }
    }
    return $class->new(%fields);
}

# Takes every completion from the core and resolves its future. Records go
# through @QUEUE so a nested drain (a callback running the loop) keeps the
# overall order.
#
# At most DRAIN_TURN records per call: a flood (300,000 pub/sub messages at
# once) must not keep the loop from its timers and other handles for
# seconds; the rest waits for the loop's next turn.
use constant DRAIN_TURN => 10_000;

sub drain {
    return unless $PID == $$;
    push @QUEUE, @{ Future::IO::Redis::_XS::drain() };
    my $left = DRAIN_TURN;
    while ( @QUEUE && $left-- > 0 ) {
        my ( $tag, $id, $payload ) = splice @QUEUE, 0, 3;

        # (Each in its own eval, like every resolution: user code they run,
        # a next() callback, must not lose the rest of the batch.)
        if ( $tag == TAG_PUBSUB ) {
            my $client = $CLIENTS{$id}                or next;
            eval { $client->_on_pubsub($payload); 1 } or warn "Future::IO::Redis: $@";
            next;
        }
        if ( $tag == TAG_TIMING ) {

            # (Comes just before its request's answer.)
            my $entry = $PENDING{$id};
            $entry->[4]{wire_us} = $payload if $entry && $entry->[4];
            next;
        }
        if ( $tag == TAG_HELLO ) {
            my $client = $CLIENTS{$id}                   or next;
            eval { $client->_on_handshake($payload); 1 } or warn "Future::IO::Redis: $@";
            next;
        }
        if ( $tag == TAG_SESSION ) {
            my $client = $CLIENTS{$id}                  or next;
            eval { $client->_on_session(@$payload); 1 } or warn "Future::IO::Redis: $@";
            next;
        }
        if ( $tag == TAG_EVENT ) {
            my $client = $CLIENTS{$id} or next;

            # Kind 0: an event without an error (connected, reconnecting).
            my $error
                = $payload->[1]
                ? error_object( [ @$payload[ 1 .. 4 ] ], client => $client )
                : undef;

            # (A connection's generation comes as the detail of CONNECTED.)
            eval { $client->_on_event( $payload->[0], $error, $payload->[3] ); 1 }
                or warn "Future::IO::Redis: $@";
            next;
        }
        my $entry = delete $PENDING{$id} or next;
        my ( $f, $client_id, $command, $on_reply ) = @$entry;
        $INFLIGHT{$client_id}--;

        # The client's own bookkeeping, even when the caller cancelled:
        # (1, reply) or (0, error record).
        if ($on_reply) {
            eval { $on_reply->( $tag == TAG_REPLY ? 1 : 0, $payload ); 1 }
                or warn "Future::IO::Redis: $@";
        }
        next if $f->is_ready;    # cancelled by its caller
        my $ok = eval {
            if ( $tag == TAG_REPLY ) {
                $f->done($payload);
            }
            else {
                my $err
                    = error_object( $payload, command => $command, client => $CLIENTS{$client_id} );
                $f->fail($err);
            }
            1;
        };
        warn "Future::IO::Redis: callback died: $@" unless $ok;
    }
    if ( @QUEUE && !$MORE_LATER ) {
        $MORE_LATER = 1;
        later(
            sub {
                $MORE_LATER = 0;
                drain();
            }
        );
    }
    return;
}

# Fails every pending request of one client (disconnect, destruction).
sub fail_client {
    my ( $client_id, $err ) = @_;
    return unless $INFLIGHT{$client_id};
    for my $id ( sort { $a <=> $b } grep { $PENDING{$_}[1] == $client_id } keys %PENDING ) {

        # A failure callback may run a nested loop that settles (and
        # removes) later entries of this list.
        my $entry = delete $PENDING{$id} or next;
        $INFLIGHT{$client_id}--;
        my $f = $entry->[0];
        next if $f->is_ready;
        eval { $f->fail($err); 1 } or warn "Future::IO::Redis: callback died: $@";
    }
}

# When this interpreter ends (an ithread exiting), another may use the core.
package Future::IO::Redis::Bridge::OwnerGuard;
sub DESTROY    { Future::IO::Redis::_XS::release_owner() }
sub CLONE_SKIP { 1 }

1;

__END__

=head1 NAME

Future::IO::Redis::Bridge - internal: completions from the Rust core to Futures

=head1 DESCRIPTION

Not a public API. One wake-up descriptor per process tells the event loop
that the Rust core has completions: under L<IO::Async> through one
persistent C<watch_io> on the loop Future::IO uses, under any other loop
through a C<< Future::IO->sysread >> kept pending; C<drain> takes
them all in one XS call and resolves the waiting futures, each in its own
C<eval> so a dying callback cannot lose the rest of the batch. Futures are
created from a prototype borrowed from Future::IO, so they are of the
running loop's class (under L<IO::Async>, C<< ->get >> runs the loop).

After C<fork> the child stops reading the parent's descriptor (keeping it
open), fails futures it inherited, and starts its own runtime on first use.

=cut
