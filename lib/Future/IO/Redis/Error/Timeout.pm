package Future::IO::Redis::Error::Timeout;

use strict;
use warnings;

our $VERSION = '0.001';

use parent 'Future::IO::Redis::Error';

=head1 NAME

Future::IO::Redis::Error::Timeout - no reply arrived in time

=head1 SYNOPSIS

    Future::IO::Redis::Error::Timeout->throw(
        message        => 'Request timed out after 5s (GET)',
        command        => 'GET',
        timeout        => 5,
        maybe_executed => 1,
    );

    if ( $e->isa('Future::IO::Redis::Error::Timeout') && !$e->maybe_executed ) {
        # safe to retry: the command never reached the server
    }

=head1 DESCRIPTION

Raised when a connect or a command exceeds its deadline. When a command times
out the late reply, if any, is discarded so it never reaches another caller.
The Future category is C<timeout>.

See L<Future::IO::Redis::Error> for the constructor, C<throw>, C<message> and
stringification.

=head1 METHODS

=head2 command

    $name = $error->command;

The command that timed out, as given by the client (its name, such as
C<GET>; never its argument values), or C<undef> for a connect timeout.

=head2 timeout

    $seconds = $error->timeout;

The deadline that was exceeded, in seconds.

=head2 maybe_executed

    $bool = $error->maybe_executed;

True when the command had been sent, so the server may have run it; false
when it never left the client. Retrying a write is only safe when this is
false or the write is idempotent.

=head2 category

Returns C<timeout>.

=cut

sub command        { $_[0]{command} }
sub timeout        { $_[0]{timeout} }
sub maybe_executed { $_[0]{maybe_executed} ? 1 : 0 }

sub category { 'timeout' }

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis::Error>, L<Future::IO::Redis>.

=cut
