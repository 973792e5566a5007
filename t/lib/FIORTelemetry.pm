package FIORTelemetry;

# Mock OpenTelemetry tracers and meters for the observability tests: they
# record everything the client hands them, so a test can look at it (and
# grep all of it for secrets).

use strict;
use warnings;

use Scalar::Util qw(blessed refaddr reftype);

# Every string in these things (tracers, meters, spans, instruments, array
# or hash references, plain strings), each once, as a flat list: names,
# kinds, attribute names and values, status codes and descriptions,
# recorded exceptions (as they stringify, and every field of an object),
# metric names, descriptions, units, labels and values.
sub strings_of {
    my (@things) = @_;
    my @out;
    my %seen;
    my $walk;
    $walk = sub {
        my ($x) = @_;
        return unless defined $x;
        if ( !ref $x ) { push @out, "$x"; return }
        return if $seen{ refaddr $x }++;
        if ( blessed $x && $x->can('strings') ) { push @out, $x->strings; return }

        # An object as it stringifies (an exporter writes that), and what
        # it holds.
        push @out, "$x" if blessed $x;
        my $type = reftype $x;
        if    ( $type eq 'HASH' )   { $walk->($_) for %$x }
        elsif ( $type eq 'ARRAY' )  { $walk->($_) for @$x }
        elsif ( $type eq 'SCALAR' ) { $walk->($$x) }
        return;
    };
    $walk->($_) for @things;
    undef $walk;
    return @out;
}

package FIORTelemetry::Span;

sub new {
    my ( $class, %args ) = @_;
    return bless {
        name           => $args{name},
        kind           => $args{kind},
        attributes     => { %{ $args{attributes} // {} } },    # as given to create_span
        create_args    => {%args},
        set_attributes => [],                                  # [name, value] of each call
        statuses       => [],                                  # [code, description] of each call
        exceptions     => [],                                  # [exception, @rest] of each call
        ended          => 0,
        end_pids       => [],
        pid            => $$,
    }, $class;
}

sub name       { $_[0]{name} }
sub kind       { $_[0]{kind} }
sub attributes { $_[0]{attributes} }
sub ended      { $_[0]{ended} }

# The attributes given at creation with those set later on top.
sub all_attributes {
    my ($self) = @_;
    return { %{ $self->{attributes} }, map { @$_ } @{ $self->{set_attributes} } };
}

# The last status set, as { code, message }, or undef.
sub status {
    my ($self) = @_;
    my $last = $self->{statuses}[-1] or return undef;
    return { code => $last->[0], message => $last->[1] };
}

sub set_status {
    my ( $self, @args ) = @_;
    push @{ $self->{statuses} }, [@args];
    return $self;
}

sub set_attribute {
    my ( $self, @args ) = @_;
    push @{ $self->{set_attributes} }, [@args];
    return $self;
}

sub record_exception {
    my ( $self, @args ) = @_;
    push @{ $self->{exceptions} }, [@args];
    return $self;
}

sub end {
    my ($self) = @_;
    $self->{ended}++;
    push @{ $self->{end_pids} }, $$;
    return $self;
}

sub strings {
    my ($self) = @_;
    my %copy = %$self;
    delete @copy{qw(pid end_pids)};
    return FIORTelemetry::strings_of( \%copy );
}

# Like a span, without set_attribute and record_exception (the minimum the
# client may rely on).
package FIORTelemetry::PlainSpan;
our @ISA = ('FIORTelemetry::Span');

sub can {
    my ( $self, $method ) = @_;
    return undef if $method eq 'set_attribute' || $method eq 'record_exception';
    return $self->SUPER::can($method);
}

sub set_attribute    { die "PlainSpan has no set_attribute\n" }
sub record_exception { die "PlainSpan has no record_exception\n" }

package FIORTelemetry::Tracer;

# FIORTelemetry::Tracer->new( plain_spans => 1 ) makes spans without
# set_attribute and record_exception.
sub new {
    my ( $class, %opt ) = @_;
    return bless { spans => [], plain_spans => $opt{plain_spans} }, $class;
}

sub create_span {
    my ( $self, %args ) = @_;
    my $class = $self->{plain_spans} ? 'FIORTelemetry::PlainSpan' : 'FIORTelemetry::Span';
    my $span  = $class->new(%args);
    push @{ $self->{spans} }, $span;
    return $span;
}

sub spans { @{ $_[0]{spans} } }
sub clear { $_[0]{spans} = []; return }

# The spans named redis.$name (or $name when it has a dot).
sub named {
    my ( $self, $name ) = @_;
    $name = "redis.$name" unless $name =~ /\./;
    return grep { ( $_->{name} // '' ) eq $name } $self->spans;
}

sub unended {
    grep { !$_->{ended} } $_[0]->spans;
}

sub strings { FIORTelemetry::strings_of( $_[0]->spans ) }

# A stand-in for the OpenTelemetry SDK's tracer class (the SDK is not
# installed here): a tracer that isa OpenTelemetry::Trace::Tracer.
package OpenTelemetry::Trace::Tracer;

package FIORTelemetry::RealishTracer;
our @ISA = ( 'FIORTelemetry::Tracer', 'OpenTelemetry::Trace::Tracer' );

package FIORTelemetry::Instrument;

sub new {
    my ( $class, %args ) = @_;
    return bless { %args, calls => [] }, $class;
}

sub name { $_[0]{name} }

# Each call as { value, labels } (labels copied, or undef when none given).
sub calls { @{ $_[0]{calls} } }

sub _call {
    my ( $self, $value, $labels, @rest ) = @_;
    push @{ $self->{calls} },
        {
        value  => $value,
        labels => ref $labels eq 'HASH' ? {%$labels} : $labels,
        rest   => [@rest],
        pid    => $$
        };
    return;
}

# The calls whose labels have these values.
sub calls_where {
    my ( $self, %want ) = @_;
    return grep {
        my $labels = $_->{labels} // {};
        !grep { ( $labels->{$_} // "\0undef" ) ne $want{$_} } keys %want
    } $self->calls;
}

# The sum of the values (of the calls whose labels have these values).
sub sum {
    my ( $self, %want ) = @_;
    my $sum = 0;
    $sum += $_->{value} for $self->calls_where(%want);
    return $sum;
}

sub values {
    map { $_->{value} } $_[0]->calls;
}
sub count { scalar @{ $_[0]{calls} } }
sub clear { $_[0]{calls} = []; return }

sub strings {
    my ($self) = @_;
    return FIORTelemetry::strings_of( @$self{qw(name description unit kind)},
        map { [ $_->{value}, $_->{labels}, $_->{rest} ] } $self->calls );
}

package FIORTelemetry::Counter;
our @ISA = ('FIORTelemetry::Instrument');
sub add   { my $self = shift; $self->_call(@_) }
sub value { $_[0]->sum }

package FIORTelemetry::Histogram;
our @ISA = ('FIORTelemetry::Instrument');
sub record { my $self = shift; $self->_call(@_) }

package FIORTelemetry::Meter;

sub new { bless { instruments => {}, created => [] }, $_[0] }

sub _create {
    my ( $self, $class, $kind, %args ) = @_;
    my $instrument = $class->new( %args, kind => $kind );
    push @{ $self->{created} }, $instrument;
    $self->{instruments}{ $args{name} // '' } = $instrument;
    return $instrument;
}

sub create_counter { my $self = shift; $self->_create( 'FIORTelemetry::Counter', counter => @_ ) }

sub create_up_down_counter {
    my $self = shift;
    $self->_create( 'FIORTelemetry::Counter', up_down_counter => @_ );
}

sub create_histogram {
    my $self = shift;
    $self->_create( 'FIORTelemetry::Histogram', histogram => @_ );
}

# The instrument of that name (the last one made, undef when none was).
sub instrument { $_[0]{instruments}{ $_[1] } }
sub counter    { $_[0]->instrument( $_[1] ) }
sub histogram  { $_[0]->instrument( $_[1] ) }

# How many instruments were made in all (each name once per meter).
sub created { scalar @{ $_[0]{created} } }

sub clear { $_->clear for @{ $_[0]{created} }; return }

sub strings { FIORTelemetry::strings_of( @{ $_[0]{created} } ) }

# A tracer and a meter that keep nothing: for the memory soak and the
# telemetry benchmark, where only the client's own work may count.
package FIORTelemetry::NoopSpan {
    sub new              { bless {}, shift }
    sub end              { }
    sub set_status       { }
    sub record_exception { }
}

package FIORTelemetry::NoopTracer {
    sub new         { bless {}, shift }
    sub create_span { FIORTelemetry::NoopSpan->new }
}

package FIORTelemetry::NoopInstrument {
    sub new    { bless {}, shift }
    sub add    { }
    sub record { }
}

package FIORTelemetry::NoopMeter {
    sub new                    { bless {}, shift }
    sub create_counter         { FIORTelemetry::NoopInstrument->new }
    sub create_histogram       { FIORTelemetry::NoopInstrument->new }
    sub create_up_down_counter { FIORTelemetry::NoopInstrument->new }
}

package FIORTelemetry;

1;

__END__

=head1 NAME

FIORTelemetry - mock OpenTelemetry tracers and meters that record everything

=head1 SYNOPSIS

    use lib 't/lib';
    use FIORTelemetry;

    my $tracer = FIORTelemetry::Tracer->new;          # duck-typed tracer
    my $real   = FIORTelemetry::RealishTracer->new;   # isa OpenTelemetry::Trace::Tracer
    my $meter  = FIORTelemetry::Meter->new;

    my $redis = Future::IO::Redis->new( %$srv, otel_tracer => $tracer, otel_meter => $meter );
    ...
    my ($span) = $tracer->named('SET');                # spans named redis.SET
    $span->attributes->{'db.statement'};               # as given to create_span
    $span->all_attributes;                             # ... with set_attribute calls on top
    $span->status;                                     # { code, message } of the last set_status
    $span->{exceptions};                               # [ [ $error, ... ], ... ]
    $span->ended;                                      # times end was called

    $meter->counter('redis.commands.total')->sum( command => 'SET' );
    $meter->histogram('redis.pipeline.size')->values;
    $meter->counter('redis.connections.active')->value;

    my @all = FIORTelemetry::strings_of( $tracer, $meter, \@log_lines );

=head1 DESCRIPTION

Mocks of the OpenTelemetry tracer and meter objects (the only mocks the
tests use). C<strings_of> flattens everything captured into strings, for
checks that a secret appears nowhere.

=cut
