package Future::IO::Redis::URI;

use strict;
use warnings;

our $VERSION = '0.001';

use Carp         ();
use Scalar::Util ();

use overload
    '""'     => sub { $_[0]->as_string },
    fallback => 1;

# Report parse errors at the user's call, not inside the client's new().
our @CARP_NOT = ('Future::IO::Redis');

=head1 NAME

Future::IO::Redis::URI - parse Redis connection URIs

=head1 SYNOPSIS

    use Future::IO::Redis::URI;

    my $uri = Future::IO::Redis::URI->parse('redis://app:s3cret@cache.internal:6380/2');
    $uri->host;        # 'cache.internal'
    $uri->port;        # 6380
    $uri->database;    # 2
    $uri->password;    # 's3cret'
    print "$uri\n";    # redis://app:***@cache.internal:6380/2

    my $redis = Future::IO::Redis->new( $uri->to_options, request_timeout => 2 );

=head1 DESCRIPTION

Turns a connection URI into the options of L<Future::IO::Redis/new>. No
module beyond core Perl is needed and nothing is looked up: host names are
resolved when the client connects.

Accepted forms:

    redis://[user[:password]@]host[:port][/db][?query]
    rediss://[user[:password]@]host[:port][/db][?query]      TLS
    redis+unix://[[user]:password@]/path/to/socket[?query]
    unix://[[user]:password@]/path/to/socket[?query]         same as redis+unix

=over 4

=item *

The scheme is case-insensitive; surrounding white space is ignored.

=item *

An IPv6 address must be in brackets: C<redis://[::1]:6380/2>. A zone is
written C<%25> (C<[fe80::1%25eth0]>).

=item *

The host may be omitted (C<redis:///3>), leaving the client's default.

=item *

User name, password and socket path are percent-decoded (C<%40> is C<@>)
and returned as byte strings. Percent signs that do not start a valid escape
are kept as they are.

=item *

For TCP URIs the user information ends at the B<last> C<@>, so a password
may contain C<@>, C</>, C<:>, C<?> and C<#> unencoded; an C<@> in a query
value must then be written C<%40>. For unix URIs it ends at the first C<@/>,
and a C<?> in the socket path must be written C<%3F>.

=item *

An empty user name or password counts as absent (C<redis://:@host> has
neither); a password of C<0> is a password.

=item *

The port must be an integer from 1 to 65535; the database a non-negative
integer, given as the path (C</2>) or the query parameter C<db=2>.

=item *

Query parameters: C<db> (alias C<database>), C<protocol> (2 or 3) and
C<client_name>. Any other parameter is an error, so options meant for
another client (say C<ssl_cert_reqs>) are not silently ignored.

=back

Nothing this class reports, neither error messages nor L</as_string>, ever
contains the password: it is shown as C<***>.

=head1 CONSTRUCTOR

=head2 parse

    $uri = Future::IO::Redis::URI->parse( $string );

Parses C<$string> and returns a C<Future::IO::Redis::URI>, or croaks with a
message naming the bad part (the URI in the message has its password masked).
An object of this class is returned unchanged.

=cut

my %SCHEME = (
    'redis'      => { tls => 0, unix => 0 },
    'rediss'     => { tls => 1, unix => 0 },
    'redis+unix' => { tls => 0, unix => 1 },
    'unix'       => { tls => 0, unix => 1 },
);

sub parse {
    my ( $class, $string ) = @_;
    return $string if Scalar::Util::blessed($string) && $string->isa(__PACKAGE__);
    Carp::croak('Redis URI must be a string') if !defined $string || ref $string;

    ( my $input = $string ) =~ s/\A\s+|\s+\z//g;
    my $fail = sub { Carp::croak( "Invalid Redis URI '" . _mask($input) . "': $_[0]" ) };

    my ( $scheme, $rest ) = $input =~ m{\A([A-Za-z][A-Za-z0-9+.-]*)://(.*)\z}s
        or $fail->('expected scheme://...');
    $scheme = lc $scheme;
    my $kind = $SCHEME{$scheme}
        or $fail->("unsupported scheme '$scheme' (use redis, rediss, redis+unix or unix)");

    my $self = bless { scheme => $scheme, tls => $kind->{tls}, is_unix => $kind->{unix} }, $class;

    my ( $userinfo, $query );
    if ( $kind->{unix} ) {
        ( $userinfo, $rest )  = ( $1, $2 ) if $rest =~ m{\A([^/].*?)?@(/.*)\z}s;
        ( $rest,     $query ) = ( $1, $2 ) if $rest =~ /\A([^?]*)\?(.*)\z/s;
        $rest =~ s/#.*\z//s;
        $rest =~ m{\A/.}
            or $fail->('unix socket URI needs an absolute path, e.g. redis+unix:///run/redis.sock');
        $self->{path} = _decode($rest);
    }
    else {
        ( $userinfo, $rest ) = ( $1, $2 ) if $rest =~ /\A(.*)@(.*)\z/s;
        my ( $authority, $db_path );
        ( $authority, $db_path, $query )
            = $rest =~ m{\A([^/?#]*)(/[^?#]*)?(?:\?([^#]*))?(?:#.*)?\z}s;
        $self->_parse_authority( $authority, $fail );
        if ( defined $db_path && $db_path ne '/' ) {
            ( my $db = $db_path ) =~ s{\A/}{};
            $self->{database} = _database( $db, $fail );
        }
    }

    if ( defined $userinfo ) {
        my ( $user, $pass ) = split /:/, $userinfo, 2;
        $self->{username} = _decode($user) if length $user;
        $self->{password} = _decode($pass) if defined $pass && length $pass;
    }

    $self->_parse_query( $query, $fail ) if defined $query && length $query;
    return $self;
}

sub _parse_authority {
    my ( $self, $authority, $fail ) = @_;
    my ( $host, $port );
    if ( $authority =~ /\A\[([^\]]*)\](?::([^:]*))?\z/ ) {
        ( $host, $port ) = ( $1, $2 );
        $host =~ /\A[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:%(?:25)?[A-Za-z0-9_.~-]+)?\z/
            or $fail->("invalid IPv6 address '[$host]'");
        $host =~ s/%25/%/;
    }
    elsif ( $authority =~ /\A([^:]*)(?::([^:]*))?\z/ ) {
        ( $host, $port ) = ( $1, $2 );
        $host =~ /\A[A-Za-z0-9_.-]*\z/ or $fail->("invalid host '$host'");
    }
    elsif ( $authority =~ /\A\[/ ) {
        $fail->("invalid bracketed host '$authority'");
    }
    else {
        $fail->('IPv6 address must be enclosed in brackets, e.g. redis://[::1]:6379');
    }
    $self->{host} = $host if length $host;

    # "host:" with an empty port means the default, as RFC 3986 allows.
    return unless defined $port && length $port;
    $port =~ /\A[0-9]+\z/ && $port >= 1 && $port <= 65535
        or $fail->("invalid port '$port' (must be 1..65535)");
    $self->{port} = 0 + $port;
    return;
}

sub _parse_query {
    my ( $self, $query, $fail ) = @_;
    for my $pair ( split /[&;]/, $query ) {
        next unless length $pair;
        my ( $key, $value ) = map { _decode($_) } split /=/, $pair, 2;
        $value //= '';
        if ( $key eq 'db' || $key eq 'database' ) {
            my $db = _database( $value, $fail );
            $fail->("database given twice ($self->{database} and $db)")
                if defined $self->{database} && $self->{database} != $db;
            $self->{database} = $db;
        }
        elsif ( $key eq 'protocol' ) {
            $value =~ /\A[23]\z/ or $fail->("invalid protocol '$value' (must be 2 or 3)");
            $self->{protocol} = 0 + $value;
        }
        elsif ( $key eq 'client_name' ) {
            $self->{client_name} = $value if length $value;
        }
        else {
            $fail->("unknown query parameter '$key'");
        }
    }
    return;
}

sub _database {
    my ( $db, $fail ) = @_;
    $db =~ /\A[0-9]+\z/ or $fail->("invalid database '$db' (must be a non-negative integer)");
    return 0 + $db;
}

sub _decode {
    my ($s) = @_;
    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

sub _encode {
    my ( $s, $keep ) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._~$keep])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

=head1 METHODS

=head2 Accessors

    $host = $uri->host;

Each returns C<undef> for a part the URI does not give.

=over 4

=item scheme

C<redis>, C<rediss>, C<redis+unix> or C<unix>, in lower case.

=item host

The host name or IPv6 address (without brackets); C<undef> when omitted and
for unix sockets.

=item port

The TCP port.

=item path

The unix socket path.

=item database

The database number, from the path or C<?db=>.

=item username

=item password

The decoded credentials. An empty value counts as absent.

=item tls

1 for C<rediss>, else 0.

=item is_unix

1 for C<redis+unix> and C<unix>, else 0.

=item protocol

2 or 3, from C<?protocol=>.

=item client_name

From C<?client_name=>.

=back

=cut

sub scheme      { $_[0]{scheme} }
sub host        { $_[0]{host} }
sub port        { $_[0]{port} }
sub path        { $_[0]{path} }
sub database    { $_[0]{database} }
sub username    { $_[0]{username} }
sub password    { $_[0]{password} }
sub tls         { $_[0]{tls} }
sub is_unix     { $_[0]{is_unix} }
sub protocol    { $_[0]{protocol} }
sub client_name { $_[0]{client_name} }

=head2 to_options

    %options = $uri->to_options;
    $redis   = Future::IO::Redis->new( $uri->to_options );

Returns key/value pairs for L<Future::IO::Redis/new>, only for the parts the
URI gives: C<host>, C<port>, C<path>, C<database>, C<username>, C<password>,
C<protocol>, C<client_name>, and C<< tls => 1 >> for C<rediss>.

=cut

sub to_options {
    my ($self) = @_;
    return (
        (
            map { defined $self->{$_} ? ( $_ => $self->{$_} ) : () }
                qw(host port path database username password protocol client_name)
        ),
        ( $self->{tls} ? ( tls => 1 ) : () ),
    );
}

=head2 as_string

    $text = $uri->as_string;
    $text = "$uri";

The URI in canonical form with the password replaced by C<***>, safe for
logs. The object stringifies to this.

=cut

sub as_string {
    my ($self) = @_;
    my $s = "$self->{scheme}://";
    if ( defined $self->{username} || defined $self->{password} ) {
        $s .= _encode( $self->{username} // '', '' );
        $s .= ':***' if defined $self->{password};
        $s .= '@';
    }

    my @query;
    if ( $self->{is_unix} ) {
        $s .= _encode( $self->{path}, '/' );
        push @query, "db=$self->{database}" if defined $self->{database};
    }
    else {
        my $host = $self->{host} // '';
        $s .= $host =~ /:/ ? '[' . ( $host =~ s/%/%25/r ) . ']' : $host;
        $s .= ":$self->{port}"     if defined $self->{port};
        $s .= "/$self->{database}" if defined $self->{database};
    }
    push @query, "protocol=$self->{protocol}" if defined $self->{protocol};
    push @query, 'client_name=' . _encode( $self->{client_name}, '' )
        if defined $self->{client_name};
    $s .= '?' . join '&', @query if @query;
    return $s;
}

=head2 mask

    $safe = Future::IO::Redis::URI->mask( $string );

Returns C<$string> with anything that may be a password replaced by C<***>,
without parsing it, for logging a URI that may be invalid. It errs on the side
of hiding: everything between the first C<:> of the user information and the
last C<@> is masked, as is a C<password=> query value.

=cut

sub mask { _mask( $_[1] ) }

# Hides anything that may be a password, however malformed the string:
# everything before the last "@" except a well-formed "scheme://user". A
# unix socket URI's credentials end at the first "@/" (its path may hold
# an "@"), and one whose path follows "://" directly has none.
sub _mask {
    my ($s) = @_;
    return $s unless defined $s;
    if ( $s =~ m{\A(?:redis\+unix|unix)://[^/]*@/}i ) {
        $s =~ s{\A([^:]+://[^:/@]*:)[^@]*@/}{$1***\@/}s;
    }
    elsif ( $s !~ m{\A[^:/]+:///} && $s =~ /\A(.*)@(.*)\z/s ) {
        my ( $userinfo, $rest ) = ( $1, $2 );
        my $kept = $userinfo =~ m{\A([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):} ? "$1:" : '';
        $s = "$kept***\@$rest";
    }
    $s =~ s{([?&;](?:password|pass|pwd)=)[^&;#]*}{$1***}gi;
    return $s;
}

1;

__END__

=head1 SEE ALSO

L<Future::IO::Redis>, L<https://www.iana.org/assignments/uri-schemes/prov/redis>,
L<https://www.iana.org/assignments/uri-schemes/prov/rediss>.

=cut
