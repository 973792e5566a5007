# Large values cross intact: a 1 MiB value of random bytes (every byte value
# in it) and a 64 MiB one make the round trip SET -> GET byte for byte (same
# length, same digest, same bytes, no UTF-8 flag, STRLEN agrees); the client
# still answers a small GET after the 64 MiB reply; and 100 concurrent 1 MiB
# SETs followed by 100 concurrent GETs each get their own value back.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Digest::MD5 qw(md5_hex);
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# A slow machine must not time a 64 MiB transfer out.
my $redis = Future::IO::Redis->new( %$srv, request_timeout => 120 );
$redis->connect->get;
my $base = FIORTest::unique_key('large');
my @keys;

my $MiB = 2**20;

# 1 MiB of random bytes that holds every byte value (in a random order).
my $mib  = pack 'C*', map { int rand 256 } 1 .. $MiB;
my @perm = map { $_->[1] } sort { $a->[0] <=> $b->[0] } map { [ rand, $_ ] } 0 .. 255;
substr( $mib, int( rand( $MiB - 256 ) ), 256, pack( 'C*', @perm ) );
is( length $mib,                         $MiB, 'the 1 MiB value is 1 MiB' );
is( scalar( () = distinct_bytes($mib) ), 256,  'with every byte value in it' );

sub distinct_bytes {
    my %seen;
    $seen{$_}++ for unpack 'C*', $_[0];
    return keys %seen;
}

# The same bytes shifted by $n: values alike in content, unalike in place.
sub rotated {
    my ( $s, $n ) = @_;
    $n %= length $s;
    return substr( $s, $n ) . substr( $s, 0, $n );
}

subtest '1 MiB round trip' => sub {
    my $k = "$base:1mib";
    push @keys, $k;
    is( $redis->set( $k, $mib )->get, 'OK', 'SET' );
    my $got = $redis->get($k)->get;
    ok( !utf8::is_utf8($got), 'a byte string' );
    is( length $got,   $MiB,          'GET: the length' );
    is( md5_hex($got), md5_hex($mib), 'GET: the digest' );
    ok( $got eq $mib, 'GET: the very bytes' );
    is( $redis->strlen($k)->get, $MiB, 'STRLEN' );
};

subtest '64 MiB round trip' => sub {
    my $k    = "$base:64mib";
    my $big  = join '', map { pack( 'N', $_ ) . substr( rotated( $mib, $_ * 4099 ), 4 ) } 0 .. 63;
    my $size = 64 * $MiB;
    push @keys, $k;
    is( length $big, $size, 'the value is 64 MiB' );
    my $want = md5_hex($big);

    is( $redis->set( $k, $big )->get, 'OK',  'SET' );
    is( $redis->strlen($k)->get,      $size, 'STRLEN: every byte stored' );
    my $got = $redis->get($k)->get;
    ok( defined $got && !utf8::is_utf8($got), 'GET: a byte string' );
    is( length $got,   $size, 'GET: the length' );
    is( md5_hex($got), $want, 'GET: the digest' );
    ok( $got eq $big, 'GET: the very bytes' );
    undef $got;

    my $at = 40 * $MiB + 12345;
    is(
        unpack( 'H*', $redis->getrange( $k, $at, $at + 99 )->get ),
        unpack( 'H*', substr( $big, $at, 100 ) ),
        'GETRANGE from the middle'
    );

    # The connection is fine after the huge reply.
    my $small = "$base:small";
    push @keys, $small;
    $redis->set( $small, "s\x00\xff" )->get;
    is( unpack( 'H*', $redis->get($small)->get ), '7300ff', 'a small GET after it' );
    is( $redis->ping->get,                        'PONG',   'PING too' );
    is( $redis->del($k)->get,                     1,        'DEL the 64 MiB key' );
};

subtest '100 concurrent 1 MiB SETs, then GETs' => sub {
    my @k = map { "$base:many:$_" } 1 .. 100;
    my @v = map { pack( 'N', $_ ) . rotated( $mib, $_ * 10007 ) } 1 .. 100;
    push @keys, @k;
    my @set
        = $loop->await( Future->needs_all( map { $redis->set( $k[$_], $v[$_] ) } 0 .. 99 ) )->get;
    is( \@set, [ ('OK') x 100 ], 'every SET answered OK' );

    my @got = $loop->await( Future->needs_all( map { $redis->get($_) } @k ) )->get;
    is( [ map { utf8::is_utf8($_) ? 1 : 0 } @got ], [ (0) x 100 ], 'byte strings' );
    is( [ map { length } @got ], [ map { length } @v ], 'each the length of its own value' );
    is( [ map { md5_hex($_) } @got ],            [ map { md5_hex($_) } @v ], 'each its own value' );
    is( [ grep { $got[$_] ne $v[$_] } 0 .. 99 ], [],                         'byte for byte' );
    is( $redis->del(@k)->get,                    100,                        'DEL' );
};

$redis->del(@keys)->get;
is( $redis->exists(@keys)->get, 0, 'cleaned up' );
$redis->disconnect;
done_testing;
