package Future::IO::Redis::Iterator;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

our @CARP_NOT = ('Future::IO::Redis');

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
    $self->{generation}++;
    return $self;
}

sub next {
    my ($self) = @_;

    # One call at a time: a second would reuse the same cursor.
    if ( my $pending = $self->{pending} ) {
        return $pending->then( sub { $self->next } ) unless $pending->is_ready;
    }
    return Future::IO::Redis::Bridge::new_future()->done(undef) if $self->{done};
    my $out = $self->{pending} = Future::IO::Redis::Bridge::new_future();
    $self->_step( $out, ++$self->{generation} );
    return $out;
}

# One SCAN call; again (from the reply's callback, so the stack does not
# grow) while the server returns empty batches with the walk not over.
sub _step {
    my ( $self, $out, $generation ) = @_;
    my @key = defined $self->{key} ? ( $self->{key} ) : ();
    $self->{client}->command( $self->{command}, @key, $self->{cursor}, @{ $self->{options} } )
        ->on_ready(
        sub {
            my ($f) = @_;
            return                           if $out->is_ready;     # cancelled by its caller
            return $out->fail( $f->failure ) if $f->is_failed;
            return $out->fail('cancelled')   if $f->is_cancelled;

            # A reset while this was on its way: start from the beginning.
            return $self->_step( $out, $self->{generation} )
                if $generation != $self->{generation};
            my ( $cursor, $batch ) = @{ $f->result };
            $self->{cursor} = $cursor;
            $self->{done}   = 1 if $cursor eq '0';

            # (Pairs come flat; flatten in case a server sends them nested.)
            my @items = map { ref $_ eq 'ARRAY' ? @$_ : $_ } @{ $batch // [] };

            # An empty batch is not the end unless the cursor says so.
            return $out->done( \@items ) if @items;
            return $out->done(undef)     if $self->{done};
            return $self->_step( $out, $generation );
        }
        );
    return;
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
