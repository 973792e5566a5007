package Future::IO::Redis::Pipeline;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(croak);
use Scalar::Util qw(blessed);

# Every command as a method that queues it here.
use parent 'Future::IO::Redis::Commands';

our @CARP_NOT = qw(Future::IO::Redis Future::IO::Redis::Commands Future::IO::Redis::Transaction);

sub new {
    my ( $class, %args ) = @_;
    my $client = $args{client};
    my $depth  = $args{max_depth} // $client->{pipeline_depth};
    croak "$class->new: max_depth must be a positive integer"
        unless defined $depth && !ref $depth && $depth =~ /\A[0-9]+\z/ && $depth > 0;
    return bless {
        client    => $client,
        max_depth => $depth,
        commands  => [],
        shapers   => {},
    }, $class;
}

sub max_depth { $_[0]{max_depth} }

sub count { scalar @{ $_[0]{commands} } }

# The generated methods come here: queue, and return the pipeline. (The
# hot path of _queue, inlined: a pipeline of 1,000 commands makes 1,000
# calls.)
sub command {
    my $self     = shift;
    my $commands = $self->{commands};
    return $self->_queue( undef, @_ )
        if @$commands >= $self->{max_depth}
        || !( defined $_[0] && !ref $_[0] && $Future::IO::Redis::PLAIN_NAME{ $_[0] } )
        || defined $self->{client}{prefix};
    push @$commands, [@_];
    return $self;
}

*add = \&command;

# Replies the client reshapes are reshaped in their slots too.
sub hgetall {
    my $self = shift;
    return $self->_queue( \&Future::IO::Redis::_hash_from_pairs, 'HGETALL', @_ );
}

sub info {
    my $self = shift;
    return $self->_queue( \&Future::IO::Redis::_info_sections, 'INFO', @_ );
}

sub time {
    my $self = shift;
    return $self->_queue( \&Future::IO::Redis::_time_hash, 'TIME', @_ );
}

# Builds its words and calls $self->command.
*set = \&Future::IO::Redis::set;

sub _queue {
    my ( $self, $shaper, @cmd ) = @_;
    my $commands = $self->{commands};
    if ( @$commands >= $self->{max_depth} ) {
        my $what = $self->isa('Future::IO::Redis::Transaction') ? 'transaction' : 'pipeline';
        croak "$what depth limit exceeded: max_depth is $self->{max_depth}";
    }

    # A command that would break the connection is refused here, where the
    # caller can see which one it was.
    my $client = $self->{client};
    if ( my $error = Future::IO::Redis::_refusal_error( \@cmd ) ) {
        die $error;
    }
    $self->{shapers}{ scalar @$commands } = $shaper if $shaper;

    # MULTI, EXEC, WATCH ... inside: sent outside the client's WATCH sections.
    $self->{transactional} = 1
        if defined $cmd[0] && $Future::IO::Redis::TX_WORD{ Future::IO::Redis::_word("$cmd[0]") };
    push @$commands,
        defined $client->{prefix}
        ? [ Future::IO::Redis::_with_prefix( $client->{prefix}, \@cmd ) ]
        : \@cmd;
    return $self;
}

sub execute {
    my ($self)   = @_;
    my $commands = $self->{commands};
    my $shapers  = $self->{shapers};
    my $gated    = delete $self->{transactional};
    $self->{commands} = [];
    $self->{shapers}  = {};
    return Future::IO::Redis::Bridge::new_future()->done( [] ) unless @$commands;
    my $client = $self->{client};
    my $send   = sub { $client->_send_batch( $commands, 'PIPELINE' ) };
    my $f
        = $gated
        ? Future::IO::Redis::Transaction::outside_sections( $client, $send )
        : $send->();
    return $f unless %$shapers;
    return $f->transform( done => sub { _shape( $_[0], $shapers ) } );
}

# Applies the reply shapers to their slots (errors stay as they are).
sub _shape {
    my ( $replies, $shapers, $offset ) = @_;
    $offset //= 0;
    for my $slot ( keys %$shapers ) {
        my $reply = $replies->[ $slot + $offset ];
        next if blessed($reply) && $reply->isa('Future::IO::Redis::Error');
        $replies->[ $slot + $offset ] = $shapers->{$slot}->($reply);
    }
    return $replies;
}

1;

__END__

=head1 NAME

Future::IO::Redis::Pipeline - many commands, one round trip

=head1 SYNOPSIS

    my $p = $redis->pipeline;
    $p->set( a => 1 )->incr('a')->get('a')->hgetall('h');
    $p->config_get('maxmemory');          # sends CONFIG GET maxmemory
    $p->command( 'OBJECT', 'FREQ', 'a' ); # anything, raw (add is the same)

    my $replies = await $p->execute;     # [ 'OK', 2, '2', {...}, [...], ... ]
    for my $reply (@$replies) {
        warn $reply->message
            if ref $reply && $reply->isa('Future::IO::Redis::Error');
    }

=head1 DESCRIPTION

A pipeline queues commands and sends them together. Every command method of
the client (see L<Future::IO::Redis::Commands>) queues its command and
returns the pipeline, so calls chain; C<hgetall>, C<info> and C<time>
replies are reshaped in their slots as on the client, and C<set> takes the
same options. The client's C<prefix> applies.

The whole pipeline goes to the core as one request, is written in one piece
(nothing else of the client comes between its commands) and comes back as
one array: the pipeline costs one future, however many commands it holds.

=head1 METHODS

=head2 command, add

    $p->command( @words );

Queue any command. Commands that would turn the shared connection into
something else (SUBSCRIBE, MONITOR, CLIENT REPLY, RESET, HELLO with
arguments) die with a L<Future::IO::Redis::Error> here.

=head2 count

Commands queued.

=head2 max_depth

The most commands the pipeline takes (C<< $redis->pipeline( max_depth =>
N ) >>, else the client's C<pipeline_depth>). Queueing one more dies with
"pipeline depth limit exceeded"; what was queued stays queued.

=head2 execute

    $replies = await $p->execute;

Sends the queued commands and yields an array reference of their replies,
in order. A command the server refuses leaves a
L<Future::IO::Redis::Error::Redis> object in its slot and the others run as
usual. When the connection fails (dropped, timed out) the whole execute
fails with the client's typed error, as a single command would; the
pipeline's deadline is C<request_timeout> plus the own wait of each
blocking command in it. An undefined or reference argument fails the
execute with a L<Future::IO::Redis::Error> naming the command, and nothing
is sent.

The queue is emptied: a second C<execute> yields C<[]>, as does an empty
pipeline.

A raw MULTI ... EXEC inside a pipeline is isolated from the client's other
commands (the pipeline is written in one piece). A pipeline holding MULTI,
EXEC, DISCARD, WATCH or UNWATCH is sent after any
L<watch_multi|Future::IO::Redis/watch_multi> section of the client in
progress, so that it cannot end that section's WATCH.

=head1 SEE ALSO

L<Future::IO::Redis>, L<Future::IO::Redis::Transaction>.

=cut
