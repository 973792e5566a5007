package Future::IO::Redis::KeyExtractor;

use strict;
use warnings;

our $VERSION = '0.001';

use Exporter qw(import);
use overload ();

use Future::IO::Redis::CommandTable;

our @EXPORT_OK = qw(extract_key_indices apply_prefix);

my $TABLE = \%Future::IO::Redis::CommandTable::COMMANDS;

# Commands whose key specs cannot find every key (an "unknown" or
# INCOMPLETE spec): the server finds their keys with code of its own
# (sortGetKeys, migrateGetKeys), and so do we, the same way.
# GEORADIUS's STORE/STOREDIST specs find the first STORE where the command
# uses the last (and a COUNT argument can read "STORE"): those are read the
# way the command reads its options too.
my %BY_HAND = (
    sort              => \&_sort_keys,
    migrate           => \&_migrate_keys,
    georadius         => sub { _georadius_keys( $_[0], 6 ) },
    georadiusbymember => sub { _georadius_keys( $_[0], 5 ) },
);

=head1 NAME

Future::IO::Redis::KeyExtractor - which arguments of a command are keys

=head1 SYNOPSIS

    use Future::IO::Redis::KeyExtractor qw(extract_key_indices apply_prefix);

    my @i = extract_key_indices( 'MSET', 'a', 1, 'b', 2 );    # (0, 2)
    my @i = extract_key_indices( 'EVAL', $lua, 2, 'k1', 'k2', 'arg' );   # (2, 3)
    my @i = extract_key_indices( 'OBJECT', 'ENCODING', 'k' );   # (1)

    my @args = apply_prefix( 'app:', 'XREAD', 'COUNT', 5, 'STREAMS', 's1', 's2', 0, 0 );
    # ('COUNT', 5, 'STREAMS', 'app:s1', 'app:s2', 0, 0)

=head1 DESCRIPTION

Finds the key arguments of a command from the server's own key
specifications (L<Future::IO::Redis::CommandTable>, taken from
C<COMMAND INFO>), the way the server does for C<COMMAND GETKEYS>: a key spec
says where the search begins (a fixed index, or the argument after a keyword
such as C<STREAMS> or C<STORE>) and how the keys run from there (a range,
possibly up to the last argument or a share of the rest, or a count given by
a C<numkeys> argument as in EVAL, FCALL, ZUNIONSTORE, LMPOP). Sub-commands
(C<OBJECT ENCODING>, C<XGROUP CREATE>, C<XINFO STREAM>) use their own specs.
SORT's C<STORE> destination and MIGRATE's C<KEYS> are found the way the
server finds them, because their specs cannot.

Channels (including the shard channels of SPUBLISH and SSUBSCRIBE, which the
server marks C<NOT_KEY>), values, hash fields and patterns are never keys.
An unknown command has no keys, and so does a malformed one whose keys
cannot be located (a C<numkeys> that is not a number): the server will reject
it anyway.

This is what the C<prefix> option of L<Future::IO::Redis> uses on every
command it sends.

=head1 FUNCTIONS

=head2 extract_key_indices

    my @indices = extract_key_indices( $command, @args );

The positions in C<@args> (counting from 0) of the key arguments, in
ascending order, each once. C<$command> is the command name in any case;
for a sub-command either give the sub-command as the first of C<@args>
(C<< ('OBJECT', 'ENCODING', $key) >>) or as part of C<$command> (C<'OBJECT
ENCODING'> or C<'object|encoding'>); positions always count in C<@args> as
given.

=cut

sub extract_key_indices {
    my $command = $_[0];

    # (Counted, not copied, when the plan is fixed: an argument may be a
    # 100 MB value, and telemetry asks for every command.)
    if ( my $plan = _fixed_plan($command) ) {
        return _fixed_positions( $plan, $#_ );
    }
    my ( undef, @args ) = @_;
    my ( $entry, $name, $argv, $offset ) = _resolve( $command, \@args ) or return;
    my $by_hand = $BY_HAND{$name};
    my @positions
        = $by_hand
        ? $by_hand->($argv)
        : map { _positions( $_, $argv ) } @{ $entry->{key_specs} || [] };
    my %seen;
    return grep { $_ >= 0 && !$seen{$_}++ } map { $_ - $offset } sort { $a <=> $b } @positions;
}

=head2 apply_prefix

    my @args = apply_prefix( $prefix, $command, @args );

C<@args> with C<$prefix> put in front of each key argument (found as
L</extract_key_indices> does); nothing else changes. Keys and the prefix are
joined as bytes: a string with Perl's UTF-8 flag is taken as its UTF-8
encoding, so a binary key stays binary. An undefined or empty prefix changes
nothing; an undefined key or a reference is left alone for the client to
reject.

=cut

sub apply_prefix {
    my ( $prefix, $command, @args ) = @_;
    return @args unless defined $prefix && length $prefix;
    my $plan = _fixed_plan($command);
    my @indices
        = $plan ? _fixed_positions( $plan, scalar @args ) : extract_key_indices( $command, @args );
    return @args unless @indices;
    my $bytes = _bytes($prefix);
    for my $i (@indices) {
        my $key = $args[$i];
        if ( defined $key && !ref $key && !utf8::is_utf8($key) ) {
            $args[$i] = $bytes . $key;    # the usual case, kept cheap
            next;
        }
        my $text = _text($key) // next;
        $args[$i] = $bytes . _bytes($text);
    }
    return @args;
}

# Most commands keep their keys at fixed positions (GET, SET, HSET, RENAME
# ...): for those the positions are worked out once per command name, as
# [ first, last, step ] triples counted in the arguments after the name
# (0 for a command that needs the general search).
my %FIXED_PLAN;
our $USE_PLANS = 1;    # tests compare the plans with the general search

sub _fixed_plan {
    my ($command) = @_;
    return 0 if !$USE_PLANS || !defined $command || ref $command;

    # _name, inlined: this runs for every prefixed command.
    my $name = $command;
    utf8::encode($name) if utf8::is_utf8($name);
    $name =~ tr/A-Z/a-z/;
    $name =~ s/\0.*//s if index( $name, "\0" ) >= 0;
    return $FIXED_PLAN{$name} if exists $FIXED_PLAN{$name};

    # Only a bare name counts its positions from the first argument
    # ('OBJECT ENCODING' or 'object|encoding' take the general search);
    # unknown names are not cached.
    return 0 if $name =~ /[\s|]/;
    my $entry = $TABLE->{$name} or return 0;
    my @plan;
    if ( !$entry->{container} && !$BY_HAND{$name} ) {
        for my $spec ( @{ $entry->{key_specs} || [] } ) {
            next if $spec->{flags} =~ /\bNOT_KEY\b/;
            my ( $begin_type, $index ) = @{ $spec->{begin} };
            my ( $find_type, $lastkey, $keystep ) = @{ $spec->{find} };
            if ( $begin_type ne 'index' || $find_type ne 'range' || $lastkey < 0 || $keystep < 1 ) {
                @plan = ();
                last;
            }
            push @plan, [ $index - 1, $index - 1 + $lastkey, $keystep ];
        }
        @plan = ()
            unless @plan == grep { $_->{flags} !~ /\bNOT_KEY\b/ } @{ $entry->{key_specs} || [] };
    }
    return $FIXED_PLAN{$name} = @plan ? \@plan : 0;
}

# A spec whose last key is missing from a short argument list gives no keys
# (as the server's getKeysUsingKeySpecs).
sub _fixed_positions {
    my ( $plan, $count ) = @_;
    my @positions;
    for my $range (@$plan) {
        my ( $first, $last, $step ) = @$range;
        next if $last >= $count;
        for ( my $i = $first; $i <= $last; $i += $step ) { push @positions, $i }
    }
    return @positions if @$plan == 1;
    my %seen;
    return grep { !$seen{$_}++ } sort { $a <=> $b } @positions;
}

sub _bytes {
    my $s = "$_[0]";
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

# The string an argument is sent as: undef for undef or a reference that
# does not stringify (the client refuses those).
sub _text {
    my ($arg) = @_;
    return undef if !defined $arg;
    return $arg  if !ref $arg;
    return overload::Method( $arg, '""' ) ? "$arg" : undef;
}

# A word as the server compares it (strcasecmp): its bytes, ASCII letters
# in any case (not Unicode case folding), and only up to a NUL byte
# ("STORE\0x" is STORE there; "GET\0x" may run as GET, when it falls in
# GET's bucket of the command table, so it is taken for GET).
sub _name {
    my $text = _text( $_[0] ) // return undef;
    my $name = _bytes($text);
    $name =~ tr/A-Z/a-z/;
    $name =~ s/\0.*//s;
    return $name;
}

# The table entry, its name, the whole argument vector (command words
# first, as the server counts) and how many of those words were not in @args.
sub _resolve {
    my ( $command, $args ) = @_;
    my $text  = _text($command) // return;
    my @words = grep { length } split /[\s|]+/, $text;
    return unless @words;
    my $name  = _name( $words[0] );
    my $entry = $TABLE->{$name} or return;
    my @argv  = ( @words, @$args );
    if ( $entry->{container} ) {
        my $sub = _name( $argv[1] ) // return;
        $name  = "$name|$sub";
        $entry = $TABLE->{$name} or return;
    }
    return ( $entry, $name, \@argv, scalar @words );
}

# Key positions in @$argv for one key spec, as the server's
# getKeysUsingKeySpecs computes them; an invalid spec gives none.
sub _positions {
    my ( $spec, $argv ) = @_;
    return if $spec->{flags} =~ /\bNOT_KEY\b/;
    my $argc = @$argv;
    my ( $begin_type, @begin ) = @{ $spec->{begin} };
    my $first;
    if ( $begin_type eq 'index' ) {
        $first = $begin[0];
    }
    elsif ( $begin_type eq 'keyword' ) {
        my ( $keyword, $startfrom ) = @begin;

        # Forward up to (not including) the last argument, or backward down
        # to (not including) the command name.
        my ( $i, $end, $step )
            = $startfrom > 0 ? ( $startfrom, $argc - 1, 1 ) : ( $argc + $startfrom, 0, -1 );
        for ( ; $i != $end; $i += $step ) {
            last if $i >= $argc || $i < 1;
            my $word = _name( $argv->[$i] );
            if ( defined $word && $word eq lc $keyword ) {
                $first = $i + 1;
                last;
            }
        }
        return unless defined $first;
    }
    else {
        return;    # unknown: the keys need code of their own (%BY_HAND)
    }

    my ( $find_type, @find ) = @{ $spec->{find} };
    my ( $last, $step );
    if ( $find_type eq 'range' ) {
        my ( $lastkey, $keystep, $limit ) = @find;
        $last
            = $lastkey >= 0 ? $first + $lastkey
            : $limit        ? $first + ( int( ( $argc - $first ) / $limit ) + $lastkey )
            :                 $argc + $lastkey;
        $step = $keystep;
    }
    elsif ( $find_type eq 'keynum' ) {
        my ( $keynumidx, $firstkey, $keystep ) = @find;
        my $numkeys = _text( $argv->[ $first + $keynumidx ] );
        return if !defined $numkeys || $numkeys !~ /\A[0-9]+\z/;
        $first += $firstkey;
        $last = $first + $numkeys - 1;
        $step = $keystep;
    }
    else {
        return;
    }
    return if $last >= $argc || $last < $first || $first >= $argc || $step < 1;
    my @positions;
    for ( my $i = $first; $i <= $last; $i += $step ) { push @positions, $i }
    return @positions;
}

# SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
# [ALPHA] [STORE destination], read as sortCommand reads it: the key and
# every STORE's destination (the last one counts; the server's own
# sortGetKeys can take a STORE for a BY's argument). BY and GET take
# patterns, which are no keys. A syntax error ends the search: the server
# refuses the command.
sub _sort_keys {
    my ($argv) = @_;
    return if @$argv < 2;
    my @keys = (1);
    for ( my $j = 2; $j < @$argv; $j++ ) {
        my $word = _name( $argv->[$j] ) // last;
        my $left = @$argv - $j - 1;
        if    ( $word eq 'asc' || $word eq 'desc' || $word eq 'alpha' ) { }
        elsif ( $word eq 'limit' && $left >= 2 )                        { $j += 2 }
        elsif ( $word eq 'store' && $left >= 1 )                        { push @keys, ++$j }
        elsif ( ( $word eq 'by' || $word eq 'get' ) && $left >= 1 )     { $j++ }
        else                                                            { last }
    }
    return @keys;
}

# MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
# [AUTH2 user pw] [KEYS key ...], read as migrateCommand reads it: the key,
# or every key after KEYS (and then the empty third argument is no key).
sub _migrate_keys {
    my ($argv) = @_;
    my %skip = ( copy => 0, replace => 0, auth => 1, auth2 => 2 );
    for ( my $i = 6; $i < @$argv; $i++ ) {
        my $word = _name( $argv->[$i] ) // last;
        if ( $word eq 'keys' ) {
            my $key = _text( $argv->[3] );
            return if !defined $key || length $key;
            return ( $i + 1 .. $#$argv );
        }
        last unless exists $skip{$word};
        $i += $skip{$word};
    }
    return @$argv > 3 ? (3) : ();
}

# GEORADIUS key longitude latitude radius unit [options] (options from 6) and
# GEORADIUSBYMEMBER key member radius unit [options] (from 5), read as
# georadiusGeneric reads them: the key, and the argument of every STORE and
# STOREDIST.
sub _georadius_keys {
    my ( $argv, $options_from ) = @_;
    return if @$argv < 2;
    my @keys = (1);
    my %flag = map { $_ => 1 } qw(withdist withhash withcoord any asc desc);
    for ( my $i = $options_from; $i < @$argv; $i++ ) {
        my $word = _name( $argv->[$i] ) // last;
        my $left = @$argv - $i - 1;
        if    ( $flag{$word} )                                               { }
        elsif ( $word eq 'count' && $left >= 1 )                             { $i++ }
        elsif ( ( $word eq 'store' || $word eq 'storedist' ) && $left >= 1 ) { push @keys, ++$i }
        else                                                                 { last }
    }
    return @keys;
}

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis> (its C<prefix> option), L<Future::IO::Redis::CommandTable>,
L<https://redis.io/docs/reference/key-specs/>

=cut
