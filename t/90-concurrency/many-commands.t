# 2,000 concurrent mixed commands on one client: each gets its own reply.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $redis = Future::IO::Redis->new( %{ FIORTest::server('plain') } );
my $base  = FIORTest::unique_key('many');
$redis->connect->get;

# Seed half of the keys so GETs have distinct values to return.
Future->needs_all( map { $redis->set( "$base:get:$_", "value-$_" ) } 1 .. 500 )->get;

my ( @futures, @expect );
for my $i ( 1 .. 2000 ) {
    my $kind = $i % 4;
    if ( $kind == 0 ) {
        push @futures, $redis->set( "$base:set:$i", "v$i-" . ( 'x' x ( $i % 97 ) ) );
        push @expect,  'OK';
    }
    elsif ( $kind == 1 ) {
        my $n = ( $i % 500 ) + 1;
        push @futures, $redis->get("$base:get:$n");
        push @expect,  "value-$n";
    }
    elsif ( $kind == 2 ) {

        # INCRBY a distinct counter by a distinct amount: the reply is
        # the amount, so a swapped reply would show.
        push @futures, $redis->command( 'INCRBY', "$base:incr:$i", $i );
        push @expect,  $i;
    }
    else {
        push @futures, $redis->command( 'ECHO', "echo-$i" );
        push @expect,  "echo-$i";
    }
}
my @got = $loop->await( Future->needs_all(@futures) )->get;
is( scalar @got, 2000, 'every command answered' );
my @wrong = grep { $got[$_] ne $expect[$_] } 0 .. $#expect;
is( \@wrong, [], 'each reply reached its own caller' );

# The SETs landed with the right values.
my @sets = grep { $_ % 4 == 0 } 1 .. 2000;
my @vals = $loop->await( Future->needs_all( map { $redis->get("$base:set:$_") } @sets ) )->get;
is( \@vals, [ map { "v$_-" . ( 'x' x ( $_ % 97 ) ) } @sets ], 'values written are intact' );

my @keys = @{ $redis->command( 'KEYS', "$base:*" )->get };
$redis->del( splice @keys, 0, 500 )->get while @keys;
is( $redis->command( 'KEYS', "$base:*" )->get, [], 'cleaned up' );
$redis->disconnect;
done_testing;
