package Future::IO::Redis::Transaction;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(croak);
use Scalar::Util qw(blessed);

use Future::IO::Redis::Pipeline;

# A transaction queues like a pipeline and is sent as MULTI … EXEC.
use parent -norequire, 'Future::IO::Redis::Pipeline';

our @CARP_NOT = qw(Future::IO::Redis Future::IO::Redis::Commands Future::IO::Redis::Pipeline);

# On the transaction object these would nest one transaction in another.
for my $name (qw(multi multi_start watch_multi exec discard watch unwatch execute)) {
    no strict 'refs';
    *$name = sub { croak "$name: already in a transaction (queue commands on it instead)" };
}

# Nor may they come as raw words (they would end the transaction early).
sub _queue {
    my ( $self, $shaper, @cmd ) = @_;
    my $word = defined $cmd[0] ? Future::IO::Redis::_word("$cmd[0]") : '';
    croak "$word: already in a transaction (queue commands on it instead)"
        if $Future::IO::Redis::TX_WORD{$word};
    return $self->SUPER::_queue( $shaper, @cmd );
}

# --- the gate --------------------------------------------------------------
#
# WATCH lives on the connection, and any EXEC or DISCARD on it clears every
# key watched: so a WATCH section (watch_multi, or a manual watch/multi_start
# until exec/discard) holds the client's gate alone, and other sections wait
# for it in FIFO order. A plain multi() holds nothing while its callback
# runs: it is sent as one piece, and only waits, when it is ready to go, for
# a section in progress to end (its EXEC would clear that section's WATCH).

sub _gate {
    my ($client) = @_;
    return $client->{_tx_gate} //= { held => 0, waiters => [] };
}

# A future that is done once the caller may go: holding the gate when
# $exclusive, else merely with no section in progress.
sub _acquire {
    my ( $client, $exclusive ) = @_;
    my $gate = _gate($client);
    my $f    = Future::IO::Redis::Bridge::new_future();
    if ( !$gate->{held} && !@{ $gate->{waiters} } ) {
        $gate->{held} = 1 if $exclusive;
        return $f->done;
    }
    push @{ $gate->{waiters} }, [ $exclusive, $f ];
    return $f;
}

sub _release {
    my ($client) = @_;
    my $gate = _gate($client);
    $gate->{held} = 0;
    while ( my $next = $gate->{waiters}[0] ) {
        my ( $exclusive, $f ) = @$next;
        if ( $f->is_ready ) {    # its caller gave up
            shift @{ $gate->{waiters} };
            next;
        }
        last if $gate->{held};
        shift @{ $gate->{waiters} };
        $gate->{held} = 1 if $exclusive;
        $f->done;                # may run the next section at once
    }
    return;
}

# --- multi and watch_multi ---------------------------------------------------

sub run_multi {
    my ( $client, $code ) = @_;
    my $tx = __PACKAGE__->new( client => $client );
    return _after_callback( $tx, $code, [$tx] )->then(
        sub {
            # Inside a manual WATCH (one caller at a time): this EXEC is the
            # one that WATCH was for, and ends it.
            if ( $client->{_manual} ) {
                return Future::IO::Redis::Bridge::failed_future(
                    Future::IO::Redis::Error->new(
                        message => 'multi: already in a transaction (multi_start was called)'
                    )
                ) if $client->{_in_multi};
                my $sent = _send( $client, $tx );
                $client->{_watching} = 0;
                manual_end($client);
                return $sent;
            }
            _acquire( $client, 0 )->then( sub { _send( $client, $tx ) } );
        }
    );
}

sub run_watch_multi {
    my ( $client, $keys, $code ) = @_;
    croak 'watch_multi: give the keys as an array reference' unless ref $keys eq 'ARRAY';
    my $tx   = __PACKAGE__->new( client => $client );
    my $held = 0;

    # Gives the gate back; with $unwatch after a failure, UNWATCH first.
    my $done = sub {
        my ($unwatch) = @_;
        return unless $held;
        $held = 0;
        $client->command('UNWATCH')->retain if $unwatch;
        _release($client);
    };
    my $pin;    # the connection WATCH went on: EXEC must go there too
    my $f = _acquire( $client, 1 )->then(
        sub {
            $held = 1;
            $client->command( 'WATCH', @$keys );
        }
    )->then(
        sub {
            $pin = [ $client->{_id}, $client->{_generation} ];
            _read_values( $client, $keys );
        }
    )->then(
        sub {
            my ($values) = @_;
            _after_callback( $tx, $code, [ $tx, $values ] );
        }
    )->then(
        sub {
            my $sent = _send( $client, $tx, $pin );

            # EXEC is on its way, the next section may go; unless nothing
            # was sent (bad input): then the WATCH is still on.
            $done->( $sent->is_ready && $sent->is_failed );
            return $sent;
        },
        sub {
            $done->(1);
            return Future::IO::Redis::Bridge::failed_future(@_);
        }
    );
    $f->on_cancel( sub { $done->(1) } );
    return $f;
}

# Runs the user's callback; its future (or value) settles when it is done.
sub _after_callback {
    my ( $tx, $code, $args ) = @_;
    my $result;
    eval { $result = $code->(@$args); 1 } or return Future::IO::Redis::Bridge::failed_future($@);
    return Future::IO::Redis::Bridge::new_future()->done
        unless blessed $result && $result->isa('Future');

    # Done, failed, or cancelled: a failure too, nothing may hang on it.
    # (on_ready: a sequence future would never hear of the cancel.)
    my $out = Future::IO::Redis::Bridge::new_future();
    $result->on_ready(
        sub {
            my ($f) = @_;
            return                           if $out->is_ready;
            return $out->done                if $f->is_done;
            return $out->fail( $f->failure ) if $f->is_failed;
            $out->fail(
                Future::IO::Redis::Error->new(
                    message => "the transaction callback's future was cancelled; nothing was sent"
                )
            );
        }
    );
    $out->on_cancel( sub { $result->cancel unless $result->is_ready } );
    return $out;
}

# MULTI, the queued commands and EXEC, in one piece.
sub _send {
    my ( $client, $tx, $pin ) = @_;
    my $commands = $tx->{commands};
    my $shapers  = $tx->{shapers};
    $tx->{commands} = [];
    $tx->{shapers}  = {};
    return $client->_send_batch( [ ['MULTI'], @$commands, ['EXEC'] ], 'MULTI', $pin )
        ->then( sub { _exec_result( $_[0], $shapers ) } );
}

sub _exec_result {
    my ( $replies, $shapers ) = @_;
    my $multi = $replies->[0];
    my $exec  = $replies->[-1];
    my $fail  = \&Future::IO::Redis::Bridge::failed_future;
    return $fail->($multi) if _is_error($multi);
    return Future::IO::Redis::Bridge::new_future()->done(undef) unless defined $exec;
    if ( _is_error($exec) ) {

        # EXECABORT: say which command the server would not queue.
        my ($why) = grep { _is_error($_) } @$replies[ 1 .. $#$replies - 1 ];
        return $fail->(
            Future::IO::Redis::Error::Redis->new(
                type    => $exec->type,
                message => $exec->message . ( $why ? ' (' . $why->message . ')' : '' ),
            )
        );
    }
    Future::IO::Redis::Pipeline::_shape( $exec, $shapers ) if %$shapers;
    return Future::IO::Redis::Bridge::new_future()->done($exec);
}

sub _is_error { blessed $_[0] && $_[0]->isa('Future::IO::Redis::Error') }

# What to read a watched key with, by its type.
my %READ = (
    string => ['get'],
    hash   => ['hgetall'],
    list   => [ 'lrange', 0, -1 ],
    set    => ['smembers'],
    zset   => [ 'zrange', 0,   -1, 'WITHSCORES' ],
    stream => [ 'xrange', '-', '+' ],
);

# { key => value } for the watched keys, each read by its type.
sub _read_values {
    my ( $client, $keys ) = @_;
    return Future::IO::Redis::Bridge::new_future()->done( {} ) unless @$keys;
    my $types = Future::IO::Redis::Pipeline->new( client => $client, max_depth => scalar @$keys );
    $types->type($_) for @$keys;
    return $types->execute->then(
        sub {
            my ($type_of) = @_;
            my $reads = Future::IO::Redis::Pipeline->new(
                client    => $client,
                max_depth => scalar @$keys
            );
            my @read;    # indices of keys that hold something
            for my $i ( 0 .. $#$keys ) {
                my $how = $READ{ $type_of->[$i] // '' } or next;
                my ( $method, @args ) = @$how;
                $reads->$method( $keys->[$i], @args );
                push @read, $i;
            }
            return $reads->execute->then(
                sub {
                    my ($values) = @_;
                    my %value = map { $_ => undef } @$keys;
                    for my $n ( 0 .. $#read ) {
                        my $i = $read[$n];
                        $value{ $keys->[$i] } = _value_shape( $type_of->[$i], $values->[$n] );
                    }
                    return Future::IO::Redis::Bridge::new_future()->done( \%value );
                }
            );
        }
    );
}

sub _value_shape {
    my ( $type, $value ) = @_;
    return $value           if _is_error($value) || ref $value ne 'ARRAY';
    return [ sort @$value ] if $type eq 'set';

    # RESP3 gives [member, score] pairs: flatten to RESP2's list.
    return [ map { ref $_ eq 'ARRAY' ? @$_ : $_ } @$value ] if $type eq 'zset';
    return $value;
}

# --- manual transactions ----------------------------------------------------

# WATCH or MULTI outside a section: take the gate first (held until EXEC,
# DISCARD, UNWATCH outside MULTI, or a dropped connection). The caller's
# reply hook goes with the command, however late it is sent.
sub manual_start {
    my ( $client, @cmd ) = @_;
    my $hook = $Future::IO::Redis::ON_REPLY;
    my $send = sub {
        $client->{_manual} = 1;
        local $Future::IO::Redis::ON_REPLY = $hook;
        return $client->command(@cmd);
    };
    return $send->() if $client->{_manual};
    return _acquire( $client, 1 )->then($send);
}

# EXEC, DISCARD or UNWATCH by hand, or a pipeline holding such words: inside
# this client's manual section they go at once; otherwise after any section
# in progress (they would end its WATCH).
sub outside_sections {
    my ( $client, $send ) = @_;
    return $send->() if $client->{_manual};
    my $hook = $Future::IO::Redis::ON_REPLY;
    return _acquire( $client, 0 )->then(
        sub {
            local $Future::IO::Redis::ON_REPLY = $hook;
            return $send->();
        }
    );
}

# Gives the gate back when a manual section is over.
sub manual_end {
    my ($client) = @_;
    return unless delete $client->{_manual};
    _release($client);
    return;
}

1;

__END__

=head1 NAME

Future::IO::Redis::Transaction - MULTI ... EXEC without interleaving

=head1 SYNOPSIS

    my $results = await $redis->multi( async sub {
        my ($tx) = @_;
        $tx->incr('counter')->lpush( log => 'hit' );
        $tx->hgetall('user:1');
    } );    # [ 5, 3, { name => ... } ]

    # optimistic locking: undef when a watched key changed
    my $results;
    do {
        $results = await $redis->watch_multi( ['balance'], async sub {
            my ( $tx, $values ) = @_;
            $tx->set( balance => $values->{balance} - 10 );
        } );
    } until defined $results;

=head1 DESCRIPTION

The object a transaction callback gets. It queues commands like a
L<Future::IO::Redis::Pipeline> (every command method queues and returns it);
once the callback is done, MULTI, the queued commands and EXEC go to the
server in one piece, so no other command of the same client can come
between them. See L<Future::IO::Redis/multi> and
L<Future::IO::Redis/watch_multi> for what the client yields.

Calling C<multi>, C<multi_start>, C<watch_multi>, C<exec>, C<discard>,
C<watch>, C<unwatch> or C<execute> on the transaction object, or queueing
MULTI, EXEC, DISCARD, WATCH or UNWATCH with C<command>, dies with "already
in a transaction" (they would end the transaction early).

=head1 SEE ALSO

L<Future::IO::Redis>, L<Future::IO::Redis::Pipeline>.

=cut
