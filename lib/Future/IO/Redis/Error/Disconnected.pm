package Future::IO::Redis::Error::Disconnected;

use strict;
use warnings;

our $VERSION = '0.001';

use parent 'Future::IO::Redis::Error';

=head1 NAME

Future::IO::Redis::Error::Disconnected - the client is not connected

=head1 SYNOPSIS

    Future::IO::Redis::Error::Disconnected->throw(
        message => 'Not connected',
        reason  => 'client_disconnect',
    );

=head1 DESCRIPTION

Raised for a command issued while the client has no usable connection: it
never connected, the user called C<disconnect>, reconnect attempts are
exhausted, or the connection was inherited across a fork. Also used to fail
the commands still waiting when the connection is shut down. The Future
category is C<disconnected>.

See L<Future::IO::Redis::Error> for the constructor, C<throw>, C<message> and
stringification.

=head1 METHODS

=head2 reason

    $reason = $error->reason;

A short machine-friendly reason when the client knows one:
C<client_disconnect> (C<disconnect> was called), C<client_destroyed> (the
client object went away with the command pending) or C<fork> (a future made
by the parent process, seen in the child); otherwise C<undef>.

=head2 category

Returns C<disconnected>.

=cut

sub reason { $_[0]{reason} }

sub category { 'disconnected' }

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis::Error>, L<Future::IO::Redis>.

=cut
