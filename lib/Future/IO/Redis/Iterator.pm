package Future::IO::Redis::Iterator;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

use Carp qw(croak);

my %OPTION = ( match => 'MATCH', count => 'COUNT', type => 'TYPE' );

sub new {
    my ( $class, %args ) = @_;
    my $command = $args{command};
    my @options;
    for my $name (qw(match count type)) {
        next unless defined $args{$name};
        croak lc($command) . "_iter: type applies to SCAN only"
            if $name eq 'type' && $command ne 'SCAN';
        push @options, $OPTION{$name}, $args{$name};
    }
    return bless {
        client  => $args{client},
        command => $command,
        key     => $args{key},
        options => \@options,
        cursor  => 0,
        done    => 0,
    }, $class;
}

sub cursor { $_[0]{cursor} }
sub done   { $_[0]{done} }

sub reset {
    my ($self) = @_;
    $self->{cursor} = 0;
    $self->{done}   = 0;
    delete $self->{pending};
    return $self;
}

sub next {
    my ($self) = @_;

    # One call at a time: a second would reuse the same cursor.
    if ( my $pending = $self->{pending} ) {
        return $pending->then( sub { $self->next } ) unless $pending->is_ready;
    }
    return Future::IO::Redis::Bridge::new_future()->done(undef) if $self->{done};
    my $generation = $self->{generation} = ( $self->{generation} // 0 ) + 1;
    my @key        = defined $self->{key} ? ( $self->{key} ) : ();
    my $f
        = $self->{client}
        ->command( $self->{command}, @key, $self->{cursor}, @{ $self->{options} } )->then(
        sub {
            my ($reply) = @_;

            # A reset while this was on its way: start from the beginning.
            return $self->next if $generation != $self->{generation} || !$self->{pending};
            my ( $cursor, $batch ) = @$reply;
            delete $self->{pending};
            $self->{cursor} = $cursor;
            $self->{done}   = 1 if $cursor eq '0';

            # (Pairs come flat; flatten in case a server sends them nested.)
            my @items = map { ref $_ eq 'ARRAY' ? @$_ : $_ } @{ $batch // [] };

            # An empty batch is not the end unless the cursor says so.
            return $self->next unless @items;
            return Future::IO::Redis::Bridge::new_future()->done( \@items );
        }
        );
    $self->{pending} = $f;
    return $f;
}

1;

__END__

=head1 NAME

Future::IO::Redis::Iterator - SCAN, HSCAN, SSCAN and ZSCAN, batch by batch

=head1 SYNOPSIS

    my $it = $redis->scan_iter( match => 'session:*', count => 1000 );
    my %seen;
    while ( my $batch = await $it->next ) {
        $seen{$_}++ for @$batch;
    }

    my $fields = $redis->hscan_iter( 'user:1', match => 'pref:*' );
    while ( my $pairs = await $fields->next ) {
        my %part = @$pairs;
    }

=head1 DESCRIPTION

Made by L<Future::IO::Redis/scan_iter>, C<hscan_iter>, C<sscan_iter> and
C<zscan_iter>. Walks the cursor for you; SCAN's guarantees hold (every key
present for the whole walk is returned, a key may come more than once).

=head1 METHODS

=head2 next

    $batch = await $it->next;

The next batch: an array reference, never empty (HSCAN and ZSCAN give flat
field, value or member, score pairs); C<undef> once the walk is finished.
Batches the server returns empty are skipped. Calls made before the
previous one is done wait for it.

=head2 cursor

The cursor the next call sends (C<0> at the start).

=head2 done

True once the server returned cursor 0.

=head2 reset

Starts over from cursor 0.

=head1 SEE ALSO

L<Future::IO::Redis>.

=cut
