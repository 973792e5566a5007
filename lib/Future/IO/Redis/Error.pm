package Future::IO::Redis::Error;

use strict;
use warnings;

our $VERSION = '0.001';

use overload
    '""'     => sub { $_[0]->message },
    bool     => sub { 1 },
    fallback => 1;

=head1 NAME

Future::IO::Redis::Error - exception classes of Future::IO::Redis

=head1 SYNOPSIS

    use Future::AsyncAwait;
    use Future::IO::Redis;

    my $value = eval { await $redis->get('counter') };
    if ( my $e = $@ ) {
        if ( ref $e && $e->isa('Future::IO::Redis::Error::Redis') ) {
            warn "server said: $e (code ", $e->type, ")\n";
        }
        elsif ( ref $e && $e->isa('Future::IO::Redis::Error::Timeout') ) {
            warn "timed out; may have run: ", $e->maybe_executed, "\n";
        }
        else { die $e }
    }

    # Futures fail with the object itself
    $redis->get('k')->on_fail( sub {
        my ($error) = @_;
        warn $error->category, ": $error\n";
    } );

    # Raising one yourself
    Future::IO::Redis::Error::Connection->throw(
        message => 'Connection refused', host => 'localhost', port => 6379,
    );

=head1 DESCRIPTION

Every failure reported by L<Future::IO::Redis> is an object of one of the
classes below. Each object stringifies to its message, so code that only
prints C<$@> keeps working, and is always true in boolean context (even when
the message is C<"0"> or empty).

Futures fail with the error object as their only failure value:

    $future->fail( $error );

so C<await> and C<< ->get >> die with the object itself. (L<Future> wraps a
failure that carries a category into a L<Future::Exception>, which would
hide the class; the category is on the object instead, from C<category>.)

=head2 Hierarchy and categories

    class                                      category
    ---------------------------------------    ------------
    Future::IO::Redis::Error                   error
      Future::IO::Redis::Error::Connection     connection
      Future::IO::Redis::Error::Timeout        timeout
      Future::IO::Redis::Error::Disconnected   disconnected
      Future::IO::Redis::Error::Protocol       protocol
      Future::IO::Redis::Error::Redis          redis

=over 4

=item L<Future::IO::Redis::Error::Connection>

The client could not connect, or lost the connection while a command was in
flight (the command may or may not have run).

=item L<Future::IO::Redis::Error::Timeout>

No reply arrived within the deadline.

=item L<Future::IO::Redis::Error::Disconnected>

The client is not connected (never connected, disconnected by the user,
reconnect attempts exhausted, or invalidated by a fork).

=item L<Future::IO::Redis::Error::Protocol>

The server sent something the client cannot understand, or the command is not
allowed in the connection's current mode (such as a regular command while
subscribed). Also used for bad input detected before anything is sent.

=item L<Future::IO::Redis::Error::Redis>

The server replied with an error (C<-WRONGTYPE ...>, C<-NOSCRIPT ...>).

=back

The base class itself is used for errors that fit none of these, such as bad
arguments.

Loading C<Future::IO::Redis::Error> loads every subclass.

=head2 Secrets

These classes carry whatever message and fields they are given and never add
anything. Code that builds them must keep passwords and command argument
values out of messages and fields; L<Future::IO::Redis> does.

=head1 METHODS

=head2 new

    $error = Future::IO::Redis::Error->new( message => $message, %fields );
    $error = Future::IO::Redis::Error->new( $message );

Returns a new error object, a blessed hash holding C<message> and every other
field under its own name. A single argument is taken as the message.

=cut

sub new {
    my $class  = shift;
    my %fields = @_ == 1 ? ( message => $_[0] ) : @_;
    return bless {%fields}, ref $class || $class;
}

=head2 throw

    Future::IO::Redis::Error::Timeout->throw( message => $message, %fields );
    $error->throw;

As a class method builds an error with L</new> and dies with it; as an
instance method dies with that object.

=cut

sub throw {
    my $self = shift;
    $self = $self->new(@_) unless ref $self;
    die $self;
}

=head2 message

    $text = $error->message;

The human-readable message. The object stringifies to this.

=cut

sub message {
    my $message = $_[0]{message};
    return defined $message ? $message : 'Unknown error';
}

=head2 category

    $category = $error->category;

The L<Future> failure category of the class (see L</Hierarchy and
categories>). Also callable as a class method.

=cut

sub category { 'error' }

# Loaded after the base class is complete: each subclass "use parent"s this
# file, which is already in %INC by now, so the cycle is harmless.
require Future::IO::Redis::Error::Connection;
require Future::IO::Redis::Error::Timeout;
require Future::IO::Redis::Error::Disconnected;
require Future::IO::Redis::Error::Protocol;
require Future::IO::Redis::Error::Redis;

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis>, L<Future> (the C<fail> convention).

=cut
