package Future::IO::Redis::Future;

# The futures the client gives are of the running loop's own class (so
# `->get` drives that loop), with this class mixed in front of it.
#
# Why: IO::Async's `$loop->await($f)` gives back the future itself, not its
# value, and code written as `my $v = $loop->await( $redis->get('k') )`
# (the seed's own tests) then holds a future where it meant a value. A done
# future of ours therefore reads as its value where that is unambiguous:
# as a string, and as the object it holds for that object's methods.

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp         qw(croak);
use Scalar::Util qw(blessed refaddr);

use overload
    '""'     => \&_as_string,
    'bool'   => sub { 1 },                # a future is always true, as before
    '0+'     => sub { refaddr $_[0] },    # == compares futures, as before
    fallback => 1;

# The value a done future stands for: its one result, when that is a
# defined plain scalar. Future's own messages ("... is already done",
# "lost a sequence Future") name the future, never its value.
my %NAMES_THE_FUTURE = map { $_ => 1 } qw(Future Future::PP Future::XS Future::Utils Carp);

sub _as_string {
    my ($self) = @_;
    if ( $self->is_done && !$NAMES_THE_FUTURE{ scalar caller } ) {
        my @result = $self->result;
        return $result[0] if @result == 1 && defined $result[0] && !ref $result[0];
    }
    return overload::StrVal($self);
}

# Future's own get takes no arguments; Redis GET takes a key. A done
# future holding a client passes get($key) on to it.
my %BASE_GET;    # our class => its base's get (next::method is slow)

sub get {
    if ( @_ > 1 && ( my $held = _held( $_[0], 'get' ) ) ) {
        shift;
        return $held->get(@_);
    }
    goto &{ $BASE_GET{ ref $_[0] } || Future->can('get') };
}

# The object a done future holds, when it has $method (a future it holds
# is not looked into).
sub _held {
    my ( $self, $method ) = @_;
    return undef unless blessed $self && $self->is_done;
    my ($value) = $self->result;
    return blessed $value && !$value->isa('Future') && $value->can($method) ? $value : undef;
}

our $AUTOLOAD;

# A method the future does not have, called on a done future holding an
# object that has it (a client from Pool->acquire): the object's.
sub AUTOLOAD {
    my $self = $_[0];
    my ($method) = $AUTOLOAD =~ /([^:]+)\z/;
    return if $method eq 'DESTROY';
    if ( my $held = _held( $self, $method ) ) {
        shift;
        return $held->$method(@_);
    }
    croak sprintf q{Can't locate object method "%s" via package "%s"}, $method, ref $self || $self;
}

my %CLASS_FOR;

# The class of our futures for a loop whose futures are of class $base.
sub class_for {
    my ($base) = @_;
    return $base if $base->isa(__PACKAGE__);
    return $CLASS_FOR{$base} //= do {
        my $class = __PACKAGE__ . '::' . ( $base =~ s/::/_/gr );
        no strict 'refs';
        @{"${class}::ISA"} = ( __PACKAGE__, $base );

        # A DESTROY of its own (the base's, if any): without one, perl
        # would call AUTOLOAD for every future freed.
        *{"${class}::DESTROY"} = $base->can('DESTROY') || sub { };
        $BASE_GET{$class} = $base->can('get');
        $class;
    };
}

1;

__END__

=head1 NAME

Future::IO::Redis::Future - the futures Future::IO::Redis gives: the loop's own, readable as their value once done

=head1 SYNOPSIS

    my $f = $redis->get('greeting');     # isa IO::Async::Future under IO::Async
    my $value = await $f;                # as always

    # IO::Async's $loop->await returns the future itself; once done, ours
    # reads as its value:
    my $result = $loop->await( $redis->get('greeting') );
    print "got $result\n" if $result eq 'hello';

    my $conn = $loop->await( $pool->acquire );
    $loop->await( $conn->set( k => 'v' ) );     # the client's method
    $pool->release($conn);                      # the pool takes the future too

=head1 DESCRIPTION

Every future the client, its pipelines, transactions, subscriptions and its
pool return is of the running event loop's future class (C<IO::Async::Future>
under IO::Async, so C<< ->get >> runs that loop), with this class mixed in
front. It changes three things, only for a B<done> future:

=over 4

=item * as a string (C<"$f">, C<eq>, C<is($f, 'PONG')>), a future whose one
result is a defined plain scalar is that value; any other future
stringifies as before (C<Class=HASH(0x...)>).

=item * a method the future does not have is called on the object it holds,
if that object has it (C<< $loop->await($pool->acquire)->set(...) >>);
otherwise the usual "Can't locate object method" error. C<get> is both
Future's and a Redis command: with arguments (C<< ->get($key) >>) it is the
held client's GET, without them Future's C<get>.

=item * Future's own messages ("... is already done", "lost a sequence
Future") still name the future, not its value.

=item * nothing else: a future is always true in boolean context, and C<==>
still compares futures by identity.

=back

Because a done future's string changes from the default to its value, do
not use a future as a hash key across its completion (key by
C<Scalar::Util::refaddr> instead).

=head1 SEE ALSO

L<Future::IO::Redis>, L<Future>

=cut
