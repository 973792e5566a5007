package Future::IO::Redis::Script;

use strict;
use warnings;
use 5.018;

our $VERSION = '0.001';

our @CARP_NOT = ('Future::IO::Redis');

use Carp        qw(croak);
use Digest::SHA qw(sha1_hex);

sub new {
    my ( $class, %args ) = @_;
    my $lua = $args{lua};
    croak 'script: give the Lua source as a string' unless defined $lua && !ref $lua;

    # The server hashes the bytes it receives: text goes out as UTF-8.
    my $bytes = $lua;
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    return bless { client => $args{client}, lua => $lua, sha => sha1_hex($bytes) }, $class;
}

sub sha { $_[0]{sha} }
sub lua { $_[0]{lua} }

sub call {
    my ( $self, @argv ) = @_;
    return $self->call_with_keys( 0, @argv );
}

sub call_with_keys {
    my ( $self, $numkeys, @rest ) = @_;
    return $self->{client}->evalsha_or_eval( $self->{sha}, $self->{lua}, $numkeys, @rest );
}

sub run {
    my ( $self, $keys, $argv ) = @_;
    $keys //= [];
    $argv //= [];
    croak 'run: give the keys and the arguments as array references'
        unless ref $keys eq 'ARRAY' && ref $argv eq 'ARRAY';
    return $self->call_with_keys( scalar @$keys, @$keys, @$argv );
}

sub load {
    my ($self) = @_;
    return $self->{client}->command( 'SCRIPT', 'LOAD', $self->{lua} );
}

1;

__END__

=head1 NAME

Future::IO::Redis::Script - a Lua script, called by its SHA1

=head1 SYNOPSIS

    my $incr = $redis->script(<<'LUA');
        return redis.call('INCRBY', KEYS[1], ARGV[1])
    LUA

    my $n = await $incr->run( ['counter'], [5] );
    my $m = await $incr->call_with_keys( 1, 'counter', 5 );
    my $t = await $redis->script('return redis.call("TIME")')->call;

=head1 DESCRIPTION

Made by L<Future::IO::Redis/script>. Each call sends EVALSHA and, when the
server does not know the script (after SCRIPT FLUSH, a restart or a
failover), EVAL with the source, which also caches it again: a script keeps
working whatever happened to the server's script cache. The client's
C<prefix> applies to the keys.

=head1 METHODS

=head2 sha

The SHA1 (hex) the server knows the script by, computed locally.

=head2 lua

The source.

=head2 call

    $result = await $script->call(@args);    # no keys

=head2 call_with_keys

    $result = await $script->call_with_keys( $numkeys, @keys, @args );

=head2 run

    $result = await $script->run( \@keys, \@args );

=head2 load

    $sha = await $script->load;    # SCRIPT LOAD

Loads the script ahead of its first call.

An error the script raises (C<redis.error_reply>, a runtime error) fails the
call with a L<Future::IO::Redis::Error::Redis>.

=head1 SEE ALSO

L<Future::IO::Redis>.

=cut
