package Future::IO::Redis::Error::Redis;

use strict;
use warnings;

our $VERSION = '0.001';

use parent 'Future::IO::Redis::Error';

=head1 NAME

Future::IO::Redis::Error::Redis - an error reply from the Redis server

=head1 SYNOPSIS

    my $e = Future::IO::Redis::Error::Redis->from_message(
        'WRONGTYPE Operation against a key holding the wrong kind of value');
    $e->type;            # 'WRONGTYPE'
    $e->is_wrongtype;    # 1
    $e->is_fatal;        # 1: retrying the same command cannot help

    my $r = eval { await $redis->evalsha( $sha, 0 ) };
    if ( ref $@ && $@->isa('Future::IO::Redis::Error::Redis') && $@->is_noscript ) {
        ...    # load the script and try again
    }

=head1 DESCRIPTION

The server answered a command with an error reply. The object carries the
whole message as the server sent it (without the leading C<->) and the
server's error code in L</type>. The Future category is C<redis>.

Inside pipeline and transaction results an error reply sits in its slot as
one of these objects instead of failing the whole batch.

An object needs nothing but the C<message> key (and optionally C<type>), so
C<< bless { message => $m, type => $t }, 'Future::IO::Redis::Error::Redis' >>
is a complete object; a missing C<type> is derived from the message when
first asked for.

See L<Future::IO::Redis::Error> for C<new>, C<throw>, C<message> and
stringification.

=head1 CONSTRUCTOR

=head2 from_message

    $error = Future::IO::Redis::Error::Redis->from_message( $message );

Builds an error from a server error message, deriving L</type> from it.

=cut

sub from_message {
    my ( $class, $message ) = @_;
    return $class->new( message => $message, type => _type_of($message) );
}

# The server's convention: the first word is the code when it is written in
# capitals (WRONGTYPE, NOSCRIPT, ERR ...). Anything else is a generic ERR.
sub _type_of {
    my ($message) = @_;
    return 'ERR' unless defined $message;
    return $message =~ /\A-?([A-Z][A-Z0-9_]+)(?:\s|\z)/ ? $1 : 'ERR';
}

=head1 METHODS

=head2 type

    $code = $error->type;

The server's error code: the first word of the message when it is made of
capital letters, digits and underscores (C<WRONGTYPE>, C<NOSCRIPT>, C<MOVED>,
C<NOAUTH>, C<BUSY> ...), otherwise C<ERR>.

=cut

sub type {
    my ($self) = @_;
    return $self->{type} //= _type_of( $self->{message} );
}

=head2 category

Returns C<redis>.

=cut

sub category { 'redis' }

=head2 Predicates

    if ( $error->is_wrongtype ) { ... }

Each returns 1 or 0.

=over 4

=item is_wrongtype

C<WRONGTYPE>: the key holds a different kind of value.

=item is_oom

C<OOM>: the server is at C<maxmemory> and refuses writes.

=item is_busy

C<BUSY>: a script or function is running too long (C<BUSYKEY> and
C<BUSYGROUP> are not this).

=item is_noscript

C<NOSCRIPT>: EVALSHA named a script the server does not have.

=item is_readonly

C<READONLY>: a write was sent to a replica.

=item is_loading

C<LOADING>: the server is still loading its dataset.

=item is_noauth

C<NOAUTH> (authentication required) or C<WRONGPASS> (bad user name or
password).

=item is_noperm

C<NOPERM>: the ACL user may not run this command or touch this key.

=item is_moved

=item is_ask

C<MOVED> and C<ASK> cluster redirections; see L</redirect>.

=back

=cut

sub _is { ( $_[0]->type eq $_[1] ) ? 1 : 0 }

sub is_wrongtype { $_[0]->_is('WRONGTYPE') }
sub is_oom       { $_[0]->_is('OOM') }
sub is_busy      { $_[0]->_is('BUSY') }
sub is_noscript  { $_[0]->_is('NOSCRIPT') }
sub is_readonly  { $_[0]->_is('READONLY') }
sub is_loading   { $_[0]->_is('LOADING') }
sub is_noperm    { $_[0]->_is('NOPERM') }
sub is_moved     { $_[0]->_is('MOVED') }
sub is_ask       { $_[0]->_is('ASK') }
sub is_noauth    { $_[0]->_is('NOAUTH') || $_[0]->_is('WRONGPASS') }

=head2 is_transient

    $bool = $error->is_transient;

True when the condition is expected to clear without anyone changing the
command, so retrying later (with backoff, or at the node named in a
redirection) can succeed:

=over 4

=item C<LOADING> - the server finishes loading its dataset.

=item C<BUSY> - the long script or function ends or is killed.

=item C<TRYAGAIN> - a cluster multi-key command during resharding.

=item C<MASTERDOWN> - a replica lost its primary and serves no stale data.

=item C<CLUSTERDOWN> - the cluster is failing over or some slots are unserved.

=item C<READONLY> - a write reached a replica, usually just after a failover;
it succeeds once sent to the new primary.

=item C<MOVED>, C<ASK> - cluster redirections: retry at the given node.

=item C<OOM> - writes succeed again once keys expire or are deleted.

=item C<MISCONF> - writes refused while RDB snapshots fail; clears when the
disk problem is fixed.

=item C<NOREPLICAS> - fewer replicas than C<min-replicas-to-write> are up.

=back

=head2 is_fatal

    $bool = $error->is_fatal;

The opposite of L</is_transient>: retrying the same command will not help.
This covers C<ERR> (syntax, wrong number of arguments, unknown command ...),
C<WRONGTYPE>, C<NOSCRIPT>, C<NOAUTH>, C<WRONGPASS>, C<NOPERM>, C<EXECABORT>,
C<CROSSSLOT>, C<NOGROUP>, C<BUSYGROUP>, C<BUSYKEY>, C<NOPROTO> and every code
this list does not know, since blindly repeating something not understood is
the wrong default.

=cut

my %TRANSIENT = map { $_ => 1 } qw(
    LOADING BUSY TRYAGAIN MASTERDOWN CLUSTERDOWN READONLY
    MOVED ASK OOM MISCONF NOREPLICAS
);

sub is_transient { $TRANSIENT{ $_[0]->type } ? 1 : 0 }
sub is_fatal     { $_[0]->is_transient       ? 0 : 1 }

=head2 redirect

    $target = $error->redirect;    # { slot => 3999, host => '10.0.0.2', port => 6381 }

For C<MOVED> and C<ASK> errors (C<MOVED 3999 10.0.0.2:6381>) returns the
slot and the node to retry at; otherwise C<undef>. C<host> is the empty
string when the server reports an unknown endpoint (C<MOVED 3999 :6381>),
meaning the host the command was sent to; an IPv6 host comes without
brackets.

=cut

sub redirect {
    my ($self) = @_;
    return undef unless $self->is_moved || $self->is_ask;
    my ( $slot, $host, $port ) = $self->message =~ /\A-?(?:MOVED|ASK) (\d+) \[?(.*?)\]?:(\d+)\s*\z/
        or return undef;
    return { slot => 0 + $slot, host => $host, port => 0 + $port };
}

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis::Error>, L<Future::IO::Redis>,
L<https://redis.io/docs/reference/protocol-spec/#simple-errors>.

=cut
