package Future::IO::Redis::Subscription;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(croak);
use Scalar::Util qw(blessed weaken);

our @CARP_NOT = ('Future::IO::Redis');

# Each set of names, with the command that adds to it and the one that
# takes from it; the tables below are read off this one.
my %COMMANDS_OF = (
    channels         => [qw(SUBSCRIBE UNSUBSCRIBE)],
    patterns         => [qw(PSUBSCRIBE PUNSUBSCRIBE)],
    sharded_channels => [qw(SSUBSCRIBE SUNSUBSCRIBE)],
);

# Confirmation word => [the set it changes, whether it adds].
my %CONFIRMS = map {
    my $set = $_;
    ( lc $COMMANDS_OF{$set}[0] => [ $set, 1 ], lc $COMMANDS_OF{$set}[1] => [ $set, 0 ] )
} keys %COMMANDS_OF;

# Subscribing command => the set it adds to.
my %ADDS = map { $COMMANDS_OF{$_}[0] => $_ } keys %COMMANDS_OF;

sub new {
    my ( $class, %args ) = @_;
    my $self = bless {
        client           => $args{client},
        max_buffer       => $args{max_buffer} || 0,
        channels         => {},
        patterns         => {},
        sharded_channels => {},
        pending          => 0,                     # subscribe/unsubscribe requests not yet answered
        asked            => {},                    # set => { name => subscribes on their way }
        buffer           => [],                    # messages not yet taken
        waiters          => [],                    # next() calls waiting for a message
        on_reconnect     => [],
        closed           => 0,
    }, $class;

    # The client keeps the subscription; the subscription must not keep the
    # client (dropping the client ends both).
    weaken( $self->{client} );
    return $self;
}

sub channels         { [ sort keys %{ $_[0]{channels} } ] }
sub patterns         { [ sort keys %{ $_[0]{patterns} } ] }
sub sharded_channels { [ sort keys %{ $_[0]{sharded_channels} } ] }

sub channel_count {
    my ($self) = @_;
    return
          scalar( keys %{ $self->{channels} } )
        + scalar( keys %{ $self->{patterns} } )
        + scalar( keys %{ $self->{sharded_channels} } );
}

sub is_closed { $_[0]{closed} ? 1 : 0 }

# --- more channels, fewer channels ------------------------------------------

sub subscribe  { shift->_request( 'SUBSCRIBE',  @_ ) }
sub psubscribe { shift->_request( 'PSUBSCRIBE', @_ ) }
sub ssubscribe { shift->_request( 'SSUBSCRIBE', @_ ) }

sub unsubscribe  { shift->_leave( 'channels',         @_ ) }
sub punsubscribe { shift->_leave( 'patterns',         @_ ) }
sub sunsubscribe { shift->_leave( 'sharded_channels', @_ ) }

# No names: every one of that kind, subscribed or on its way (nothing to
# send when there is none).
sub _leave {
    my ( $self, $set, @names ) = @_;
    @names = sort keys %{ { %{ $self->{$set} }, %{ $self->{asked}{$set} // {} } } }
        unless @names;
    return Future::IO::Redis::Bridge::new_future()->done($self) unless @names;
    return $self->_request( $COMMANDS_OF{$set}[1], @names );
}

# The client, after it noticed a fork (which ends a parent's subscription).
sub _client_here {
    my ($self) = @_;
    my $client = $self->{client} or return;
    $client->_after_fork if $client->{_pid} != $$;
    return $client;
}

sub _request {
    my ( $self, $word, @names ) = @_;
    my $client = $self->_client_here;
    return Future::IO::Redis::Bridge::failed_future(
        Future::IO::Redis::Error::Disconnected->new(
            message => lc($word) . ': the subscription is closed',
            reason  => 'closed'
        )
    ) if $self->{closed} || !$client;
    my $adds = $ADDS{$word};

    # After an overflow only unsubscribing is left to do.
    return Future::IO::Redis::Bridge::failed_future( $self->{error} )
        if $self->{error} && $adds;
    $self->{pending}++;
    $self->{asked}{$adds}{$_}++ for $adds ? @names : ();
    my $sent = $client->_pubsub_request( $word, @names );
    my $out  = Future::IO::Redis::Bridge::new_future();

    # on_ready, not a sequence future: the count must drop even when the
    # caller cancels (the server answers all the same).
    $sent->on_ready(
        sub {
            my ($f) = @_;
            $self->{pending}--;
            if ($adds) {
                my $asked = $self->{asked}{$adds};
                --$asked->{$_} or delete $asked->{$_} for @names;
            }
            $self->_close_if_done;
            return if $out->is_ready;
            $f->is_done ? $out->done($self) : $out->fail( $f->failure );
        }
    );
    return $out;
}

# --- traffic from the core ---------------------------------------------------

# A confirmation or a message, in the order the server sent them.
sub _traffic {
    my ( $self, $value ) = @_;
    return unless ref $value eq 'ARRAY';
    my ( $kind, @rest ) = @$value;
    if ( my $confirms = $CONFIRMS{ $kind // '' } ) {
        my ( $set, $on ) = @$confirms;
        my $name = $rest[0];
        return unless defined $name && !ref $name;
        if ($on) { $self->{$set}{$name} = 1 }
        else     { delete $self->{$set}{$name} }

        # Subscribed after an overflow (it was on its way): undo it.
        if ( $on && $self->{error} ) {
            $self->_request( $COMMANDS_OF{$set}[1], $name )->retain;
        }

        # The core may drop names on its own (a reconnect's SUBSCRIBE
        # refused, reconnecting given up): nothing left ends it.
        $self->_close_if_done unless $on;
        return;
    }
    my $message
        = $kind eq 'message'  ? { type => 'message',  channel => $rest[0], data => $rest[1] }
        : $kind eq 'smessage' ? { type => 'smessage', channel => $rest[0], data => $rest[1] }
        : $kind eq 'pmessage'
        ? { type => 'pmessage', pattern => $rest[0], channel => $rest[1], data => $rest[2] }
        : return;    # anything else (RESP3 pushes of other kinds) is not ours
    $message->{pattern} //= undef;
    return if $self->{closed} || $self->{error};
    push @{ $self->{buffer} }, $message;
    $self->_deliver;
    return;
}

# Hands buffered messages to waiting next() calls or to the callback.
sub _deliver {
    my ($self) = @_;
    my $buffer = $self->{buffer};
    if ( my $code = $self->{on_message} ) {
        while ( @$buffer && !$self->{busy} ) {
            my $message = shift @$buffer;
            my $result  = eval { $code->( $message, $self ) };
            warn "Future::IO::Redis::Subscription: on_message callback died: $@" if $@;

            # Back-pressure: the next message waits for the callback's future.
            if ( blessed $result && $result->isa('Future') && !$result->is_ready ) {
                $self->{busy} = $result;
                weaken( my $weak = $self );
                $result->on_ready(
                    sub {
                        return unless $weak;
                        delete $weak->{busy};
                        $weak->_deliver;
                    }
                );
            }
        }
    }
    else {
        while ( @$buffer && @{ $self->{waiters} } ) {
            my $f = shift @{ $self->{waiters} };
            next if $f->is_ready;    # cancelled
            $f->done( shift @$buffer );
        }
    }
    $self->_overflow if $self->{max_buffer} && @$buffer > $self->{max_buffer};
    return;
}

# More unread messages than allowed: fail loudly, never drop quietly.
sub _overflow {
    my ($self) = @_;
    my $error = Future::IO::Redis::Error->new(
        message => sprintf(
            'subscription buffer overflow: more than %d messages not read; '
                . 'the subscription ends, everything is unsubscribed '
                . '(read faster, or raise max_buffered_messages)',
            $self->{max_buffer}
        )
    );
    warn 'Future::IO::Redis: ' . $error->message . "\n";
    $self->{error}  = $error;
    $self->{buffer} = [];
    for my $f ( splice @{ $self->{waiters} } ) {
        $f->fail($error) unless $f->is_ready;
    }

    # Unsubscribe everything; the subscription stays the client's (so a
    # RESP2 client sends nothing else) until the server has confirmed.
    $self->unsubscribe->retain;
    $self->punsubscribe->retain;
    $self->sunsubscribe->retain;
    return;
}

# Nothing subscribed and nothing on its way: the subscription is over.
sub _close_if_done {
    my ($self) = @_;
    $self->_close if !$self->{pending} && !$self->channel_count;
    return;
}

# Ends the subscription: waiting next() calls get undef, or the error (an
# overflow; a fork: the parent's subscription in the child); the client may
# run other commands again.
sub _close {
    my ( $self, $error ) = @_;
    return if $self->{closed};
    $self->{closed} = 1;
    $self->{error} //= $error if $error;
    my $client = $self->{client};
    delete $client->{_subscription}
        if $client && $client->{_subscription} && $client->{_subscription} == $self;
    for my $f ( splice @{ $self->{waiters} } ) {
        next if $f->is_ready;
        $self->{error} ? $f->fail( $self->{error} ) : $f->done(undef);
    }
    return;
}

# The connection came back and the core re-subscribed everything.
sub _resubscribed {
    my ($self) = @_;
    for my $code ( @{ $self->{on_reconnect} } ) {
        eval { $code->($self); 1 }
            or warn "Future::IO::Redis::Subscription: on_reconnect callback died: $@";
    }
    return;
}

# --- reading -----------------------------------------------------------------

sub next {
    my ($self) = @_;
    croak 'next: this subscription delivers to its on_message callback' if $self->{on_message};
    $self->_client_here;
    my $f = Future::IO::Redis::Bridge::new_future();
    return $f->done( shift @{ $self->{buffer} } ) if @{ $self->{buffer} };
    return $f->fail( $self->{error} )             if $self->{error};
    return $f->done(undef)                        if $self->{closed};
    my $waiters = $self->{waiters};
    push @$waiters, $f;

    # A caller that gives up (a timeout around next) leaves no waiter.
    weaken( my $weak = $f );
    $f->on_cancel(
        sub {
            @$waiters = grep { $_ && $_ != $weak } @$waiters;
        }
    );
    return $f;
}

sub next_message {
    my ($self) = @_;
    return $self->next->transform(
        done => sub {
            my ($m) = @_;
            return undef unless $m;
            return {
                type    => $m->{type},
                channel => $m->{channel},
                message => $m->{data},
                pattern => $m->{pattern}
            };
        }
    );
}

sub on_message {
    my ( $self, $code ) = @_;
    croak 'on_message: give a code reference' unless ref $code eq 'CODE';
    $self->_client_here;
    croak 'on_message: next() calls are still waiting; use one or the other'
        if grep { !$_->is_ready } @{ $self->{waiters} };
    $self->{on_message} = $code;
    $self->_deliver;
    return $self;
}

sub on_reconnect {
    my ( $self, $code ) = @_;
    croak 'on_reconnect: give a code reference' unless ref $code eq 'CODE';
    push @{ $self->{on_reconnect} }, $code;
    return $self;
}

1;

__END__

=head1 NAME

Future::IO::Redis::Subscription - pub/sub messages, in order, across reconnects

=head1 SYNOPSIS

    my $sub = await $redis->subscribe( 'news', 'alerts' );
    await $sub->psubscribe('log.*');

    while ( my $m = await $sub->next ) {
        say "$m->{channel}: $m->{data}";       # pmessage: $m->{pattern} too
        last if $m->{data} eq 'bye';
    }
    await $sub->unsubscribe;                   # every channel

    # or a callback; a returned future holds back the next message
    $sub->on_message( async sub {
        my ($m) = @_;
        await store($m);
    } );
    $sub->on_reconnect( sub { warn "re-subscribed\n" } );

=head1 DESCRIPTION

What L<Future::IO::Redis/subscribe>, C<psubscribe> and C<ssubscribe> yield
once the server has confirmed the names. A client has one subscription at a
time; subscribing again adds to it.

Messages are kept in the order the server sent them until they are read:
none is dropped or reordered because the reader is slow. The client's
C<max_buffered_messages> option bounds how many may wait: past it the
subscription fails loudly (a warning; the unread messages are let go,
C<next> fails with a L<Future::IO::Redis::Error>, the client unsubscribes
everything) rather than losing messages quietly or growing without end.

With C<reconnect>, a dropped connection is re-established and every
channel, pattern and sharded channel is subscribed again before anything
else is sent on it; then C<on_reconnect> callbacks run. Messages published
while the connection was down are lost (Redis pub/sub keeps nothing).
Without C<reconnect>, a drop ends the subscription.

Under RESP2 a subscribed connection can do nothing else: while the client
has a subscription (from the C<subscribe> call until the last name is
unsubscribed) its other commands fail with
L<Future::IO::Redis::Error::Protocol>. Under C<< protocol => 3 >> the
client keeps working as usual. Channel names are never prefixed.

=head1 METHODS

=head2 next

    $message = await $sub->next;

The next message, C<< { type => 'message' | 'pmessage' | 'smessage',
channel, pattern, data } >> (C<pattern> is undef except for pmessage), or
C<undef> once the subscription is over.

=head2 next_message

The same as C<< { type, channel, message, pattern } >>.

=head2 on_message

    $sub->on_message( sub { my ( $message, $sub ) = @_; ... } );

Delivers every message, buffered ones first, to the callback instead of
C<next>. When it returns a future that is not ready, the next message waits
for it (they are buffered meanwhile). A callback that dies is reported with
C<warn>.

=head2 on_reconnect

    $sub->on_reconnect( sub { my ($sub) = @_; ... } );

Called after a reconnect has restored every subscription.

=head2 subscribe, psubscribe, ssubscribe

More names; yield the subscription once confirmed.

=head2 unsubscribe, punsubscribe, sunsubscribe

    await $sub->unsubscribe('news');
    await $sub->unsubscribe;    # every channel

Fewer names; without names, every one of that kind. When nothing is left
the subscription is over: C<next> yields C<undef>, C<is_closed> is true,
and the client can subscribe afresh (a new subscription object).

=head2 channels, patterns, sharded_channels, channel_count

The names the server has confirmed (sorted array references), and how many
in all.

=head2 is_closed

True once the subscription is over.

=head1 SEE ALSO

L<Future::IO::Redis>.

=cut
