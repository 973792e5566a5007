package Future::IO::Redis::Error::Protocol;

use strict;
use warnings;

our $VERSION = '0.001';

use parent 'Future::IO::Redis::Error';

=head1 NAME

Future::IO::Redis::Error::Protocol - unexpected data or a command not allowed now

=head1 SYNOPSIS

    Future::IO::Redis::Error::Protocol->throw(
        message => 'Only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT allowed in pubsub mode',
    );

    Future::IO::Redis::Error::Protocol->throw(
        message => 'Unexpected reply type',
        data    => $raw,
    );

=head1 DESCRIPTION

Raised when the server sends something the client cannot parse or did not
expect, or when a command is not allowed in the connection's current mode
(for example a regular command on a subscribed RESP2 connection). The Future
category is C<protocol>.

See L<Future::IO::Redis::Error> for the constructor, C<throw>, C<message> and
stringification.

=head1 METHODS

=head2 data

    $data = $error->data;

The offending data when the client kept it, otherwise C<undef>.

=head2 category

Returns C<protocol>.

=cut

sub data { $_[0]{data} }

sub category { 'protocol' }

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis::Error>, L<Future::IO::Redis>.

=cut
