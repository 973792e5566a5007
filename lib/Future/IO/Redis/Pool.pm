package Future::IO::Redis::Pool;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(carp croak);
use Scalar::Util qw(blessed looks_like_number refaddr weaken);
use Time::HiRes  ();

use Future;
use Future::AsyncAwait;
use Future::IO;

use Future::IO::Redis ();
use Future::IO::Redis::Error;

# Croaks from Future::IO::Redis->new (bad connection options) name the
# caller of the pool's new.
our @CARP_NOT = qw(Future::IO::Redis);

# An idle connection older than this (seconds) answers a PING before it is
# handed out: a connection that looks up may have been dropped meanwhile.
use constant PING_AFTER => 1;

# The most seconds that PING may take (at most half of acquire_timeout): a
# connection that stays silent longer is closed.
use constant CHECK_TIMEOUT => 1;

my %DEFAULTS = (
    min             => 1,
    max             => 10,
    acquire_timeout => 5,
    idle_timeout    => 60,
    cleanup_timeout => 5,
    on_dirty        => 'destroy',
);

sub new {
    my ( $class, %args ) = @_;
    my %opt;
    for my $key ( keys %DEFAULTS ) {
        $opt{$key} = exists $args{$key} ? delete $args{$key} : $DEFAULTS{$key};
    }
    for my $key (qw(min max)) {
        croak "$class->new: $key must be a non-negative integer"
            unless defined $opt{$key} && !ref $opt{$key} && $opt{$key} =~ /\A[0-9]+\z/;
    }
    croak "$class->new: max must be at least 1"                          if $opt{max} < 1;
    croak "$class->new: min ($opt{min}) must not exceed max ($opt{max})" if $opt{min} > $opt{max};
    for my $key (qw(acquire_timeout idle_timeout cleanup_timeout)) {
        my $v = $opt{$key};
        croak "$class->new: $key must be a number of seconds (0 or more)"
            unless defined $v && !ref $v && looks_like_number($v) && $v >= 0 && $v < 9**9**9;
    }
    croak "$class->new: on_dirty must be 'destroy' or 'cleanup'"
        unless defined $opt{on_dirty}
        && !ref $opt{on_dirty}
        && $opt{on_dirty} =~ /\A(?:destroy|cleanup)\z/;

    # The connection options are checked once, by the client itself: a
    # client that is never connected does no I/O.
    my $template = eval { Future::IO::Redis->new(%args) };
    unless ($template) {
        ( my $why = "$@" ) =~ s/ at \S+ line \d+\.?\n\z//;
        $why =~ s/\AFuture::IO::Redis->new: //;
        croak "$class->new: $why";
    }

    # What every connection starts with (after a URI is taken apart): a
    # connection given back with another database, login, name or prefix
    # is dirty.
    my %want = ( database => $template->{database} // 0 );
    $want{$_} = $template->{$_} for qw(username password client_name prefix);

    # _gen is bumped on fork: late callbacks of the parent's work see it.
    return bless {
        %opt,
        _options    => \%args,
        _want       => \%want,
        _pid        => $$,
        _idle       => [],       # [client, idle since], oldest first
        _active     => {},       # refaddr => client handed out
        _lease      => {},       # refaddr => serial of that checkout
        _serial     => 0,
        _waiters    => [],       # acquire futures, first come first served
        _opening    => 0,        # connections being opened,
        _checking   => 0,        # ... idle ones answering a PING,
        _cleaning   => 0,        # ... dirty ones being cleaned
        _in_cleanup => {},       # refaddr => client being cleaned
        _busy       => {},       # the futures of that work, kept alive
        _opens      => {},       # refaddr => connect future (for warm)
        _destroyed  => 0,
        _gen        => 0,
    }, $class;
}

sub min { $_[0]{min} }
sub max { $_[0]{max} }

sub _now { Time::HiRes::clock_gettime( Time::HiRes::CLOCK_MONOTONIC() ) }

sub _total {
    my ($self) = @_;
    my $held = @{ $self->{_idle} } + keys %{ $self->{_active} };
    return $held + $self->{_opening} + $self->{_checking} + $self->{_cleaning};
}

# What the pool's connections are doing, for a timeout message.
sub _counts {
    my ($self) = @_;
    return sprintf '%d of %d connections: %d in use, %d idle, %d being opened, '
        . '%d being checked, %d being cleaned',
        $self->_total, $self->{max}, scalar keys %{ $self->{_active} }, scalar @{ $self->{_idle} },
        @{$self}{qw(_opening _checking _cleaning)};
}

sub _disconnected {
    my ( $self, $message ) = @_;
    return Future::IO::Redis::Error::Disconnected->new( message => "pool: $message" );
}

# --- fork ------------------------------------------------------------------

# In a forked child every connection and waiter is the parent's: forget
# them (without closing anything: the clients' own fork handling keeps the
# parent's sockets alone) and start afresh. True when a fork was found.
sub _check_fork {
    my ($self) = @_;
    return 0 if $self->{_pid} == $$;
    $self->_clear_all_connections;
    $self->{_pid} = $$;
    return 1;
}

sub _clear_all_connections {
    my ($self) = @_;
    $self->{_gen}++;

    # A client acquired before the fork may still be released in the child:
    # remember it (weakly) so that is not taken for a foreign one. Those
    # remembered from an earlier fork and gone since are forgotten.
    my $forgotten = $self->{_forgotten} //= {};
    defined $forgotten->{$_} or delete $forgotten->{$_} for keys %$forgotten;
    for my $conn ( values %{ $self->{_active} } ) {
        weaken( $forgotten->{ refaddr $conn } = $conn );
    }
    $self->{_idle}       = [];
    $self->{_active}     = {};
    $self->{_lease}      = {};
    $self->{_opening}    = $self->{_checking} = $self->{_cleaning} = 0;
    $self->{_in_cleanup} = {};
    $self->{_busy}       = {};
    $self->{_opens}      = {};
    delete @{$self}{qw(_reaper _top_up_timer)};    # the parent's timers: they check the pid
    my @waiters = splice @{ $self->{_waiters} };

    for my $waiter (@waiters) {
        next if $waiter->is_ready;
        my $err = $self->_disconnected('the pool was invalidated by fork');
        eval { $waiter->fail($err); 1 } or warn "Future::IO::Redis::Pool: $@";
    }
    return;
}

# --- acquire ---------------------------------------------------------------

sub acquire {
    my ($self) = @_;
    $self->_check_fork;
    return Future::IO::Redis::Bridge::failed_future(
        $self->_disconnected('acquire: the pool was shut down') )
        if $self->{_closed};

    my $f = Future::IO::Redis::Bridge::new_future();
    if ( my $secs = $self->{acquire_timeout} ) {
        weaken( my $weak = $self );
        my $timer = Future::IO->sleep($secs)->on_done(
            sub {
                return if $f->is_ready || !$weak;
                $f->fail(
                    Future::IO::Redis::Error::Timeout->new(
                        message => "pool: no connection available within ${secs}s ("
                            . $weak->_counts . ')',
                        command        => 'ACQUIRE',
                        timeout        => $secs,
                        maybe_executed => 0,
                    )
                );
            }
        );

        # Served, timed out or cancelled: the timer goes either way.
        $f->on_ready( sub { $timer->cancel unless $timer->is_ready } );
    }
    push @{ $self->{_waiters} }, $f;
    $self->_top_up;
    $self->_dispatch;
    return $f;
}

# Opens connections until min exist (counting those on their way). Each
# open is counted at once, or has failed at once: so the number is known
# up front, and an open that fails at once cannot make this loop for ever.
sub _top_up {
    my ($self) = @_;
    return if $self->{_closed};
    my $need = $self->{min} - $self->_total;
    return map { $self->_open } 1 .. $need;
}

sub warm {
    my ($self) = @_;
    $self->_check_fork;
    return Future::IO::Redis::Bridge::failed_future(
        $self->_disconnected('warm: the pool was shut down') )
        if $self->{_closed};
    my @opening = ( values %{ $self->{_opens} }, $self->_top_up );
    return Future::IO::Redis::Bridge::new_future()->done($self) unless @opening;

    # (Without cancel: one failure must not stop the other attempts.)
    return Future->needs_all( map { $_->without_cancel } @opening )
        ->transform( done => sub { $self } );
}

# Serves waiters, first come first served: from idle connections first,
# else by opening new ones while fewer than max exist. An idle connection
# goes to any waiter; connections being opened or checked are promised to
# the waiters first in line only when deciding whether to open another
# (one whose check ends with nobody waiting goes back to the idle ones); a
# connection being cleaned is promised to nobody (its cleanup may fail, or
# take up to cleanup_timeout). Re-entered from a waiter's callback, it only
# asks the running pass for another round.
sub _dispatch {
    my ($self) = @_;
    return if $self->{_closed};
    if ( $self->{_dispatching} ) {
        $self->{_again} = 1;
        return;
    }
    local $self->{_dispatching} = 1;
    do {
        $self->{_again} = 0;
        while (1) {
            my $waiters = $self->{_waiters};
            @$waiters = grep { !$_->is_ready } @$waiters;    # timed out or cancelled
            last unless @$waiters;
            if ( my $entry = pop @{ $self->{_idle} } ) {
                my ( $conn, $since ) = @$entry;
                if    ( !$conn->is_connected )         { $self->_destroy($conn) }
                elsif ( _now() - $since > PING_AFTER ) { $self->_health_check($conn) }
                else                                   { $self->_give($conn) }
                next;
            }
            last if @$waiters <= $self->{_checking} + $self->{_opening};
            last if $self->_total >= $self->{max};
            $self->_open;
        }
    } while ( $self->{_again} );
    return;
}

# Hands a connection to the first waiter still waiting, or makes it idle.
# Each hand-out is a lease of its own (see with).
sub _give {
    my ( $self, $conn ) = @_;
    return $self->_close($conn) if $self->{_closed};
    while ( my $waiter = shift @{ $self->{_waiters} } ) {
        next if $waiter->is_ready;
        $self->{_active}{ refaddr $conn } = $conn;
        $self->{_lease}{ refaddr $conn }  = ++$self->{_serial};
        eval { $waiter->done($conn); 1 } or warn "Future::IO::Redis::Pool: callback died: $@";
        return;
    }
    push @{ $self->{_idle} }, [ $conn, _now() ];
    $self->_schedule_reap;
    return;
}

# Runs $work (a future) for a connection on its way to the pool, counted
# in the total (as $kind: opening, checking or cleaning) until it is
# ready; then $then gets the pool and the finished future. (Only a weak
# reference to the pool is kept meanwhile: the work must not keep a pool
# alive that its owner dropped.)
sub _pending_work {
    my ( $self, $kind, $work, $then ) = @_;
    my $gen = $self->{_gen};
    weaken( my $weak = $self );
    $self->{"_$kind"}++;
    $self->{_busy}{ refaddr $work } = $work;
    $work->on_ready(
        sub {
            my ($f) = @_;
            my $self = $weak or return;
            return if $self->{_gen} != $gen || $self->{_pid} != $$;
            delete $self->{_busy}{ refaddr $f };
            $self->{"_$kind"}--;
            $then->( $self, $f );
            $self->_dispatch;
        }
    );
    return $work;
}

# An error object for what a client died with.
sub _error_of {
    my ( $why, $doing ) = @_;
    return $why if blessed $why && $why->isa('Future::IO::Redis::Error');
    ( my $text = "$why" ) =~ s/ at \S+ line \d+\.?\n\z//;
    chomp $text;
    return Future::IO::Redis::Error->new( message => "pool: $doing: $text" );
}

# (A client that cannot even be made, say its TLS file is gone, fails like
# a connect: a waiter hears why.)
sub _open {
    my ($self) = @_;
    my ( $conn, $connect );
    $conn    = eval { Future::IO::Redis->new( %{ $self->{_options} } ) };
    $connect = eval { $conn->connect } if $conn;
    $connect ||= Future::IO::Redis::Bridge::failed_future( _error_of( $@, 'cannot connect' ) );
    $self->{_opens}{ refaddr $connect } = $connect;    # for warm
    return $self->_pending_work(
        opening => $connect,
        sub {
            my ( $self, $f ) = @_;
            delete $self->{_opens}{ refaddr $f };
            return $self->_give($conn) if $f->is_done;

            # The first waiter beyond those promised a connection being
            # checked or opened hears why (rather than timing out); the
            # next one makes its own attempt.
            my $err = $f->is_failed ? $f->failure : $self->_disconnected('connect was cancelled');
            my @waiting = grep { !$_->is_ready } @{ $self->{_waiters} };
            my $waiter  = $waiting[ $self->{_checking} + $self->{_opening} ] or return;
            @{ $self->{_waiters} } = grep { $_ != $waiter } @waiting;
            eval { $waiter->fail($err); 1 } or warn "Future::IO::Redis::Pool: $@";
        }
    );
}

# (Within CHECK_TIMEOUT, and half of acquire_timeout: a connection that no
# longer answers must not keep the waiter from another one.)
sub _health_check {
    my ( $self, $conn ) = @_;
    my $ping = eval { $conn->ping }
        || Future::IO::Redis::Bridge::failed_future( _error_of( $@, 'health check' ) );
    my $secs = CHECK_TIMEOUT;
    $secs = $self->{acquire_timeout} / 2
        if $self->{acquire_timeout} && $self->{acquire_timeout} / 2 < $secs;
    $ping = Future->wait_any( $ping, Future::IO->sleep($secs)->then_fail('health check timed out') )
        unless $ping->is_ready;
    $self->_pending_work(
        checking => $ping,
        sub {
            my ( $self, $f ) = @_;
            if   ( $f->is_done && $conn->is_connected ) { $self->_give($conn) }
            else                                        { $self->_destroy($conn) }
        }
    );
    return;
}

# --- release ---------------------------------------------------------------

sub release {
    my ( $self, $conn ) = @_;

    # (The done future of an acquire, as $loop->await gives it, holds it.)
    if ( blessed $conn && $conn->isa('Future') && $conn->is_done ) {
        my ($held) = $conn->result;
        $conn = $held if blessed $held;
    }
    $self->_release($conn);
    return;
}

# With $lease (from with): only that lease is given back, quietly; a
# connection released by hand meanwhile, and maybe handed to another
# caller since, is left alone.
sub _release {
    my ( $self, $conn, $lease ) = @_;
    return unless $conn;
    return if $self->_check_fork;    # the child forgot the parent's connections

    my $addr = refaddr($conn) // -1;
    my $mine = $self->{_active}{$addr};
    unless ( $mine && refaddr $mine == $addr ) {
        return if defined $lease;
        my $forgotten = $self->{_forgotten} && $self->{_forgotten}{$addr};
        return if $forgotten && refaddr $forgotten == $addr;    # acquired before a fork
        carp 'Future::IO::Redis::Pool: release of a connection '
            . (
            ( grep { refaddr $_->[0] == $addr } @{ $self->{_idle} } )
            ? 'that was already released'
            : 'that is not checked out from this pool'
            ) . '; ignored';
        return;
    }
    return if defined $lease && $lease != ( $self->{_lease}{$addr} // 0 );
    delete $self->{_active}{$addr};
    delete $self->{_lease}{$addr};

    if    ( $self->{_closed} )     { $self->_close($conn) }
    elsif ( !$conn->is_connected ) { $self->_destroy($conn) }
    else {
        my ( $dirty, $beyond_cleanup ) = $self->_dirty($conn);
        if    ( !defined $dirty )                                   { $self->_give($conn) }
        elsif ( $beyond_cleanup || $self->{on_dirty} ne 'cleanup' ) { $self->_destroy($conn) }
        else                                                        { $self->_start_cleanup($conn) }
    }
    $self->_dispatch;
    return;
}

# Why the connection cannot go to the next user as it is, or nothing; and
# true as well when no cleanup can help (it is destroyed under either
# on_dirty).
sub _dirty {
    my ( $self, $conn ) = @_;
    my $want = $self->{_want};

    # Logged in as someone else (AUTH): the next user must not inherit that.
    return ( 'another login', 1 )
        if _differs( $conn->{username} // 'default', $want->{username} // 'default' )
        || _differs( $conn->{password},              $want->{password} );

    # A transaction of the client's own (watch_multi, or a multi waiting for
    # its turn) is still running: it would go on on the next user's
    # connection. A manual WATCH/MULTI holds the gate too, and is cleaned.
    my $busy = $conn->inflight_count || @{ $conn->{_auto} // [] };
    return ( 'a transaction of the client still running', 1 ) if _gate_busy( $conn, $busy );

    return 'pub/sub' if $conn->can('is_pubsub') && $conn->is_pubsub;
    return 'MULTI'   if $conn->in_multi;
    return 'WATCH'   if $conn->watching;

    # (Auto-pipelined commands of this tick are not sent yet.)
    return 'commands in flight' if $busy;

    # A SELECT of another database would send the next user's commands there.
    return 'another database'    if ( $conn->{database} // 0 ) != $want->{database};
    return 'another client name' if _differs( $conn->{client_name}, $want->{client_name} );
    return 'another prefix'      if _differs( $conn->{prefix},      $want->{prefix} );
    return;
}

# (undef and '' are the same here: no name, no prefix, no password. Text
# is compared as the UTF-8 bytes sent: the server's answers give bytes.)
sub _differs {
    my ( $x, $y ) = map { my $s = $_ // ''; utf8::encode($s) if utf8::is_utf8($s); $s } @_;
    return $x ne $y;
}

# True when the client's transaction gate is held by something other than
# a manual WATCH/MULTI that is in force or on its way, or when anybody
# waits for it.
sub _gate_busy {
    my ( $conn, $busy ) = @_;
    my $gate = $conn->{_tx_gate};
    return 1 if $gate && grep { !$_->[1]->is_ready } @{ $gate->{waiters} // [] };
    return !( $conn->in_multi || $conn->watching || $busy ) if $conn->{_manual};
    return $gate && $gate->{held} ? 1 : 0;
}

sub _start_cleanup {
    my ( $self, $conn ) = @_;
    my $addr = refaddr $conn;
    $self->{_in_cleanup}{$addr} = $conn;
    $self->_pending_work(
        cleaning => $self->_cleanup($conn),
        sub {
            my ( $self, $f ) = @_;
            delete $self->{_in_cleanup}{$addr};
            if    ( $self->{_closed} ) { $self->_close($conn) }
            elsif ( $f->is_done )      { $self->_give($conn) }
            else                       { $self->_destroy($conn) }
        }
    );
    return;
}

# Brings a dirty connection back to a clean state, within cleanup_timeout.
sub _cleanup {
    my ( $self, $conn ) = @_;
    my $clean = _clean_steps( $conn, $self->{_want} );
    my $secs  = $self->{cleanup_timeout} or return $clean;
    return Future->wait_any(
        $clean,
        Future::IO->sleep($secs)->then(
            sub {
                Future::IO::Redis::Bridge::failed_future(
                    Future::IO::Redis::Error::Timeout->new(
                        message => "pool: cleanup took longer than ${secs}s",
                        command => 'CLEANUP',
                        timeout => $secs
                    )
                );
            }
        )
    );
}

async sub _clean_steps {
    my ( $conn, $want ) = @_;
    if ( $conn->can('is_pubsub') && $conn->is_pubsub ) {
        die "pool: cannot leave pub/sub mode\n" unless $conn->can('unsubscribe_all');
        my $unsubscribed = $conn->unsubscribe_all;
        await $unsubscribed            if blessed $unsubscribed && $unsubscribed->isa('Future');
        die "pool: still subscribed\n" if $conn->is_pubsub;
    }

    # Replies come in order: once this PING is answered (PONG, or QUEUED
    # inside a MULTI whose reply was still on its way), so is everything
    # sent before it. DISCARD also ends WATCH.
    await $conn->ping    if $conn->inflight_count || @{ $conn->{_auto} // [] };
    await $conn->discard if $conn->in_multi;
    await $conn->unwatch if $conn->watching;

    # Then what the pool's options set up: database, name, prefix.
    await $conn->select( $want->{database} ) if ( $conn->{database} // 0 ) != $want->{database};

    # (CLIENT SETNAME "" takes the name away.)
    await $conn->command( 'CLIENT', 'SETNAME', $want->{client_name} // '' )
        if _differs( $conn->{client_name}, $want->{client_name} );
    $conn->{prefix} = $want->{prefix};
    die "pool: connection still in use\n"
        if $conn->in_multi
        || $conn->watching
        || $conn->inflight_count
        || !$conn->is_connected
        || _gate_busy( $conn, 0 )
        || _differs( $conn->{client_name}, $want->{client_name} );
    return $conn;
}

# A connection closed because it was dirty or broken: min are opened again,
# on the next turn of the event loop (a waiter gets one at once anyway).
sub _destroy {
    my ( $self, $conn ) = @_;
    $self->{_destroyed}++;
    $self->_close($conn);
    $self->_schedule_top_up;
    return;
}

sub _schedule_top_up {
    my ($self) = @_;
    return if $self->{_top_up_timer} || $self->{_closed} || $self->_total >= $self->{min};
    weaken( my $weak = $self );
    my $gen = $self->{_gen};
    $self->{_top_up_timer} = Future::IO->sleep(0)->on_done(
        sub {
            my $self = $weak or return;
            return if $self->{_gen} != $gen || $self->{_pid} != $$;
            delete $self->{_top_up_timer};
            $self->_top_up;
        }
    );
    return;
}

sub _close {
    my ( $self, $conn ) = @_;
    $conn->disconnect if $conn->{_pid} == $$;
    return;
}

# --- idle timeout ----------------------------------------------------------

# One timer at most, and only while connections beyond min are idle: it
# wakes when the oldest of them reaches idle_timeout.
sub _schedule_reap {
    my ($self) = @_;
    my $secs = $self->{idle_timeout};
    return if !$secs || $self->{_reaper} || $self->{_closed};
    my $idle = $self->{_idle};
    return if @$idle <= $self->{min};
    my $delay = $idle->[0][1] + $secs - _now();
    $delay = 0 if $delay < 0;
    weaken( my $weak = $self );
    my $pid = $$;
    $self->{_reaper} = Future::IO->sleep( $delay + 0.01 )->on_done(
        sub {
            return unless $weak && $$ == $pid;
            delete $weak->{_reaper};
            $weak->_reap;
        }
    );
    return;
}

sub _reap {
    my ($self) = @_;
    my $idle   = $self->{_idle};
    my $now    = _now();
    while ( @$idle > $self->{min} && $now - $idle->[0][1] >= $self->{idle_timeout} ) {
        my ($entry) = shift @$idle;
        $self->_close( $entry->[0] );
    }
    $self->_schedule_reap;
    return;
}

# --- with, stats, shutdown ---------------------------------------------------

sub with {
    my ( $self, $code ) = @_;
    croak 'with: give a code reference (async sub { my ($redis) = @_; ... })'
        unless ref $code eq 'CODE';
    $self->_check_fork;
    weaken( my $weak = $self );
    return $self->acquire->then(
        sub {
            my ($conn) = @_;

            # This checkout's lease: given back once, and only that lease
            # (not the connection: released by hand inside the callback, it
            # may be another caller's by the time the callback is over).
            my $lease = $weak && $weak->{_lease}{ refaddr $conn };
            my $back  = sub { $weak->_release( $conn, $lease // 0 ) if $weak };

            my @result;
            my $ok      = eval { @result = $code->($conn); 1 };
            my $err     = $@;
            my @futures = $ok ? grep { blessed $_ && $_->isa('Future') } @result : ();
            if ( @result == 1 && @futures ) {

                # Done, failed or cancelled (the caller cancelled): back it
                # goes, before the caller hears the result.
                $result[0]->on_ready($back);
                return $result[0];
            }
            if (@futures) {

                # Several futures (a plain sub's commands): back it goes
                # once all of them are over.
                return Future->wait_all(@futures)->on_ready($back)->then(
                    sub {
                        my ($bad) = grep { !$_->is_done } @futures;
                        return $bad->is_failed
                            ? $bad
                            : Future::IO::Redis::Bridge::failed_future(
                            _error_of( 'a future it returned was cancelled', 'with' ) )
                            if $bad;
                        return Future::IO::Redis::Bridge::new_future()
                            ->done( map { blessed $_ && $_->isa('Future') ? $_->get : $_ }
                                @result );
                    }
                );
            }
            $back->();
            return Future::IO::Redis::Bridge::failed_future( $err || 'with: the callback died' )
                unless $ok;
            return Future::IO::Redis::Bridge::new_future()->done(@result);
        }
    );
}

sub stats {
    my ($self) = @_;
    $self->_check_fork;
    my $active = keys %{ $self->{_active} };
    my $idle   = @{ $self->{_idle} };
    return {
        active    => $active,
        idle      => $idle,
        waiting   => scalar( grep { !$_->is_ready } @{ $self->{_waiters} } ),
        total     => $self->_total,
        destroyed => $self->{_destroyed},
    };
}

sub shutdown {
    my ($self) = @_;
    $self->_check_fork;
    $self->{_closed} = 1;
    for my $timer ( grep { defined } delete @{$self}{qw(_reaper _top_up_timer)} ) {
        $timer->cancel unless $timer->is_ready;
    }
    my @idle = splice @{ $self->{_idle} };
    $self->_close( $_->[0] ) for @idle;

    # Those being cleaned are closed too (their cleanup fails): a pool that
    # went away would never hear of them again. The work on those being
    # opened or checked runs to its end without the pool (the client then
    # goes, and closes); a connection that comes back to the pool is closed.
    $self->_close($_) for values %{ $self->{_in_cleanup} };
    $_->retain for values %{ $self->{_busy} };
    my @waiters = splice @{ $self->{_waiters} };
    for my $waiter (@waiters) {
        next if $waiter->is_ready;
        my $err = $self->_disconnected('acquire: the pool was shut down');
        eval { $waiter->fail($err); 1 } or warn "Future::IO::Redis::Pool: $@";
    }
    return;
}

sub DESTROY {
    my ($self) = @_;
    return if ${^GLOBAL_PHASE} eq 'DESTRUCT' || $self->{_pid} != $$;
    $self->shutdown;
}

1;

__END__

=head1 NAME

Future::IO::Redis::Pool - a bounded pool of Future::IO::Redis connections

=head1 SYNOPSIS

    use IO::Async::Loop;
    use Future::IO::Impl::IOAsync;
    use Future::IO::Redis;          # also enables async/await here
    use Future::IO::Redis::Pool;

    my $loop = IO::Async::Loop->new;
    my $pool = Future::IO::Redis::Pool->new(
        host        => 'localhost',
        client_name => 'worker',      # any Future::IO::Redis option
        min         => 2,
        max         => 10,
    );

    # Borrow a connection, use it alone, give it back (also when the
    # callback dies): a manual WATCH/MULTI needs a connection of its own.
    async sub withdraw {
        my ($amount) = @_;
        return await $pool->with( async sub {
            my ($redis) = @_;
            await $redis->watch('balance');
            my $balance = await $redis->get('balance');
            await $redis->multi_start;
            $redis->set( balance => $balance - $amount );
            return await $redis->exec;    # undef: the balance changed meanwhile
        } );
    }

    async sub main {
        # by hand
        my $redis = await $pool->acquire;
        await $redis->set( balance => 100 );
        $pool->release($redis);

        my @results = await Future->needs_all( map { withdraw(10) } 1 .. 5 );
        my $s = $pool->stats;    # { active, idle, waiting, total, destroyed }
        print scalar( grep { defined } @results ), " of 5 withdrawals ran\n";
    }

    $loop->await( main() )->get;
    $pool->shutdown;

=head1 DESCRIPTION

A pool of connected L<Future::IO::Redis> clients, each used by one caller at
a time. That is what state that lives on a connection needs: a manual
transaction (C<watch>, C<multi_start> ... C<exec>), a blocking command that
should not hold up others, a C<SELECT> of another database. Plain commands
do not need a pool: one client takes any number of concurrent commands.

The pool never has more than C<max> connections, counting those being
opened, checked or cleaned, however many callers ask at once. Callers that
find all of them in use wait in line, first come first served, each for at
most C<acquire_timeout> seconds. An idle connection is handed out before a
new one is opened; a connection still being cleaned is promised to nobody,
so no caller waits for it while another connection is idle or may be
opened.

A connection given back in a state the next user would trip over is
I<dirty>: inside MULTI, with a WATCH in force, with commands still waiting
for their replies (also auto-pipelined ones not yet sent), subscribed
(pub/sub), switched to another database, or with another client name
(C<CLIENT SETNAME>) or key prefix (C<< $redis->{prefix} >>) than the pool's
options give. Under C<< on_dirty => 'destroy' >> (the default) it is
closed, and a fresh one is opened when needed. Under C<< on_dirty =>
'cleanup' >> it is brought back: unsubscribed, its pending replies awaited,
its MULTI discarded, its WATCH lifted, its database selected again, its
name and prefix restored, all within C<cleanup_timeout> seconds; if that
fails or takes too long it is closed.

Two states no cleanup undoes close the connection under either
C<on_dirty>: logged in as someone else (an C<AUTH> the server accepted,
with other credentials than the pool's options), and a transaction of the
client's own still running or waiting for its turn (a C<watch_multi> whose
callback is not over, a C<multi> or C<watch> queued behind a transaction):
it would go on on the next user's connection. Not seen at all are a raw
C<WATCH>, C<MULTI>, C<EXEC>, C<DISCARD> or C<UNWATCH> sent with C<command>
(the client tracks transactions begun with C<multi_start> and C<watch>:
use those) and a C<multi> whose callback is still running (it holds
nothing until it is sent): await transactions before giving the
connection back.

Before an idle connection is handed out it is checked: one that is no
longer connected is closed and replaced, and one that has been idle for
more than a second must first answer a PING, within a second (and half of
C<acquire_timeout>), or it is closed. Meanwhile other idle connections go
to callers in line, and a check that ends with nobody waiting makes its
connection idle again.

All futures are of the running event loop's class, and failures are the
error objects of L<Future::IO::Redis::Error>.

=head1 CONSTRUCTOR

=head2 new

    $pool = Future::IO::Redis::Pool->new( %connection_options, %pool_options );

Does no I/O. Every option that is not one of the pool's own below goes to
L<Future::IO::Redis/new> for each connection (C<host>, C<port>, C<uri>,
C<database>, C<username>, C<password>, C<client_name>, C<tls>, C<prefix>,
C<protocol>, the timeouts, C<reconnect> ...); they are checked once here, so
an unknown option or a bad value croaks at once, as does a bad pool option.

=over 4

=item min

Connections opened by L</warm> or the first L</acquire>, and kept open when
idle; one closed because it was dirty or broken is replaced (on the next
turn of the event loop). Default 1; 0 opens connections only on demand.

=item max

The most connections the pool ever has. Default 10; at least 1 and at least
C<min>.

=item acquire_timeout

Seconds a caller waits for a connection before L</acquire> fails with
L<Future::IO::Redis::Error::Timeout> (C<command> C<ACQUIRE>). Default 5;
0 waits without limit.

=item idle_timeout

Seconds after which a connection beyond C<min> that nobody used is closed.
Default 60; 0 keeps them open.

=item cleanup_timeout

Seconds that cleaning a dirty connection may take (C<on_dirty =E<gt>
'cleanup'>), waiting for its pending replies included. Default 5; 0 waits
without limit.

=item on_dirty

C<destroy> (default) or C<cleanup>: what happens to a connection released
dirty (see L</DESCRIPTION>).

=back

=head1 METHODS

=head2 acquire

    my $redis = await $pool->acquire;

A connected L<Future::IO::Redis> client for the caller alone, until it
gives it back with L</release>. Takes an idle connection (the one released
last), else opens one if fewer than C<max> exist, else waits in line. Fails
with L<Future::IO::Redis::Error::Timeout> after C<acquire_timeout>, with the
connection's own error when opening it fails (see L</ERRORS>), and with
L<Future::IO::Redis::Error::Disconnected> after L</shutdown>. Cancelling the
future gives up the place in line.

=head2 release

    $pool->release($redis);

Gives the connection back: to the next caller in line, or to the idle
ones. A dirty connection is closed or cleaned first (see C<on_dirty>), and
one that is no longer connected is closed. Releasing a connection twice, or
one this pool did not hand out (or has closed), only warns.

Release each connection once. The pool hands out the client objects
themselves, so a second release that comes after the connection went to
another caller cannot be told from that caller's own: it gives the other
caller's connection back, and two callers end up sharing it. L</with>
cannot do this: it gives back its own checkout only.

=head2 with

    my $result = await $pool->with( async sub {
        my ($redis) = @_;
        ...
        return $result;
    } );

Acquires a connection, runs the callback with it, and releases it when the
callback's future is done, fails or is cancelled (or when the callback
dies, or returns plain values). Yields what the callback yields and fails
with what it fails with; a plain sub is called in list context, and its
list is what the future yields. A plain sub that returns several futures
(say C<< ( $redis->set(...), $redis->get(...) ) >>) keeps the connection
until all of them are over: the future then yields their results (and any
plain values) in order, or fails as the first of them in the list that
failed.

Releasing the connection by hand inside the callback is allowed (and the
callback is then done with it): C<with> then gives nothing back itself, not
even when another caller has that connection by then.

Do not call C<with> or L</acquire> inside a C<with> callback on the same
pool when the outer call may hold the last connection: on a pool of
C<max> 1 the inner call waits for the outer one's connection, which comes
back only once the inner call is over. That deadlock ends only when the
inner call fails with L<Future::IO::Redis::Error::Timeout> after
C<acquire_timeout> (never, with C<acquire_timeout> 0).

=head2 warm

    await $pool->warm;

Opens connections until C<min> exist; yields the pool once they, and any
connections already being opened, are up, or fails with the first
connection error. The first L</acquire> does the same without waiting
for all of them.

=head2 stats

    my $s = $pool->stats;

A hash reference: C<active> (handed out), C<idle>, C<waiting> (callers in
line), C<total> (active, idle, and those being opened, checked or cleaned:
never more than C<max>) and C<destroyed> (connections closed because they
were dirty, broken or failed their check, since the pool was made).

=head2 min, max

The options of the same name.

=head2 shutdown

    $pool->shutdown;

Closes the idle connections and those being cleaned, fails the callers in
line with
L<Future::IO::Redis::Error::Disconnected>, and makes every later
L</acquire> fail the same way. Connections still handed out are closed when
they are released. Called when the pool object goes away.

=head1 ERRORS

Futures fail with an error object as their only failure value (see
L<Future::IO::Redis::Error>):

=over 4

=item L<Future::IO::Redis::Error::Timeout>

No connection was free within C<acquire_timeout> (C<command> is
C<ACQUIRE>, C<maybe_executed> 0); the message says how many connections
there are, and how many are in use, idle, being opened, checked or
cleaned.

=item L<Future::IO::Redis::Error::Disconnected>

The pool was shut down, or, in a forked child, the caller had been waiting
in the parent.

=item L<Future::IO::Redis::Error::Connection> and the others

Opening a connection failed: the first caller in line who is not promised
a connection being opened or checked gets the client's own error
(refused, bad password ...), or a L<Future::IO::Redis::Error> when a
client cannot even be made any more (a connection option that became
unusable, such as a TLS file that is gone).

=back

L</with> fails with whatever its callback dies or fails with.

=head1 FORK AND THREADS

The pool records the process id (C<< $pool->{_pid} >>). In a forked child
its first use (L</acquire>, L</release>, L</with>, L</stats>, L</warm>)
forgets every connection inherited from the parent without touching them
(the parent keeps using its sockets), fails the inherited waiters with
L<Future::IO::Redis::Error::Disconnected>, and opens fresh connections in
the child. Releasing a connection that was acquired before the fork is
then quietly ignored. So a preforking server may create one pool before
forking and use it in every worker.

Threads: as for L<Future::IO::Redis> itself, use the pool from the
interpreter that loaded the module.

=head1 SEE ALSO

L<Future::IO::Redis>, L<Future::IO::Redis::Error>.

=cut
