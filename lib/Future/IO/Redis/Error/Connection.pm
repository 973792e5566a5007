package Future::IO::Redis::Error::Connection;

use strict;
use warnings;

our $VERSION = '0.001';

use parent 'Future::IO::Redis::Error';

=head1 NAME

Future::IO::Redis::Error::Connection - connecting failed or the connection broke

=head1 SYNOPSIS

    Future::IO::Redis::Error::Connection->throw(
        message => 'Connection refused (localhost:6379)',
        host    => 'localhost',
        port    => 6379,
        reason  => 'refused',
    );

    if ( $e->isa('Future::IO::Redis::Error::Connection') ) {
        warn "cannot reach ", $e->path // $e->host . ':' . $e->port, "\n";
    }

=head1 DESCRIPTION

Raised when the client cannot establish a connection (refused, name not
resolved, TLS or handshake failure, connect timeout) or when an established
connection breaks while commands are in flight. A command that fails with
this error may or may not have been executed by the server. The Future
category is C<connection>.

See L<Future::IO::Redis::Error> for the constructor, C<throw>, C<message> and
stringification.

=head1 METHODS

The endpoint the client was talking to is in C<host> and C<port> for TCP or
C<path> for a unix socket; fields that do not apply are C<undef>.

=head2 host

    $host = $error->host;

The server host name or address.

=head2 port

    $port = $error->port;

The server TCP port.

=head2 path

    $path = $error->path;

The unix socket path.

=head2 reason

    $reason = $error->reason;

Why, in a word: C<resolve> (the host name did not resolve), C<refused>
(nothing listens there), C<connect> (any other failure to connect, such as
a missing socket file), C<tls> (handshake or certificate check),
C<eof> (the server closed the connection), C<io> (a read or write
failed), or C<lost> (the connection ended while the command waited).

=head2 category

Returns C<connection>.

=cut

sub host   { $_[0]{host} }
sub port   { $_[0]{port} }
sub path   { $_[0]{path} }
sub reason { $_[0]{reason} }

sub category { 'connection' }

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis::Error>, L<Future::IO::Redis>.

=cut
