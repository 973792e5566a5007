# Clients are freed when the last reference goes: the connection closes,
# nothing stays registered, and futures still pending fail instead of
# hanging. (Regression: the client registry once held strong references.)
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(weaken);
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $srv   = FIORTest::server('plain');
my $admin = Future::IO::Redis->new(%$srv);
my $name  = "lifecycle$$";

sub named_connections {
    my $list = $admin->command( 'CLIENT', 'LIST' )->get;
    return scalar grep { /\bname=\Q$name\E\b/ } split /\n/, $list;
}

# Sockets and event descriptors: what the client and its core create.
sub open_fds {
    scalar grep { /^(?:socket|anon_inode):/ } map { readlink($_) // '' } glob "/proc/$$/fd/*";
}

$admin->ping->get;    # the runtime and its descriptors exist from here on
my $fds_before = open_fds();
my @weak;
for ( 1 .. 20 ) {
    my $redis = Future::IO::Redis->new( %$srv, client_name => $name );
    $redis->ping->get;
    push @weak, $redis;
    weaken( $weak[-1] );
}
is( [ grep { defined } @weak ], [], 'every client was freed when it went out of scope' );
is(
    [ keys %Future::IO::Redis::Bridge::CLIENTS ],
    [ $admin->{_id} ],
    'nothing but the admin client left in the registry'
);

# The connections close in the core right after; give it a moment.
my $until = time + 10;
$loop->delay_future( after => 0.05 )->get while named_connections() && time < $until;
is( named_connections(), 0, 'the server saw every connection close' );
SKIP: {
    skip 'no /proc here', 1 unless -d "/proc/$$/fd";
    is( open_fds(), $fds_before, 'no sockets or event descriptors left behind' );
}

subtest 'futures pending when the client goes away fail' => sub {
    my $redis = Future::IO::Redis->new(%$srv);
    $redis->connect->get;
    my $pending = $redis->command( 'BLPOP', "fior:test:$$:lifecycle:none", 5 );
    undef $redis;
    ok( $pending->is_failed, 'failed at once' );
    isa_ok( $pending->failure, 'Future::IO::Redis::Error::Disconnected' );
};

$admin->disconnect;
done_testing;
