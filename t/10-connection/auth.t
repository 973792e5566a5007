# Password and ACL-user authentication; failures are typed and leave the
# client disconnected; secrets never appear in errors.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('auth');
my %at   = ( host => $srv->{host}, port => $srv->{port} );

sub connect_error {
    my ($redis) = @_;
    my $f = $redis->connect;
    $loop->await($f);
    return $f->is_failed ? $f->failure : undef;
}

subtest 'default user password' => sub {
    my $redis = Future::IO::Redis->new( %at, password => $srv->{password} );
    is( $redis->connect->get->ping->get,         'PONG',    'connected with the password' );
    is( $redis->command( 'ACL', 'WHOAMI' )->get, 'default', 'as the default user' );
    $redis->disconnect;
};

subtest 'ACL user' => sub {
    my $redis = Future::IO::Redis->new(
        %at,
        username => $srv->{acl_user},
        password => $srv->{acl_password}
    );
    $redis->connect->get;
    is( $redis->command( 'ACL', 'WHOAMI' )->get, $srv->{acl_user}, 'as the ACL user' );
    $redis->disconnect;
};

subtest 'RESP3: HELLO 3 with AUTH' => sub {
    my $redis = Future::IO::Redis->new(
        %at,
        protocol => 3,
        username => $srv->{acl_user},
        password => $srv->{acl_password}
    );
    $redis->connect->get;
    is( $redis->command( 'ACL', 'WHOAMI' )->get, $srv->{acl_user}, 'authenticated' );
    like( $redis->command( 'CLIENT', 'INFO' )->get, qr/\bresp=3\b/, 'speaking RESP3' );
    is( ref $redis->command('HELLO')->get, 'HASH', 'maps are hash references' );
    $redis->disconnect;
};

subtest 'URI with user, password and database' => sub {
    my $uri = sprintf 'redis://%s:%s@%s:%d/4', $srv->{acl_user}, $srv->{acl_password},
        $srv->{host}, $srv->{port};
    my $redis = Future::IO::Redis->new( uri => $uri );
    is( $redis->{database}, 4, 'database from the URI' );
    $redis->connect->get;
    like( $redis->command( 'CLIENT', 'INFO' )->get, qr/\bdb=4\b/, 'selected database 4' );
    $redis->disconnect;
};

subtest 'a username without a password' => sub {

    # Regression: the username was silently dropped and the client ran as
    # the default user.
    my $admin = Future::IO::Redis->new(
        %at,
        username => $srv->{acl_user},
        password => $srv->{acl_password}
    );
    my $user = "nopass-$$";
    $admin->command( 'ACL', 'SETUSER', $user, 'on', 'nopass', '~*', '+@all' )->get;
    my $redis = Future::IO::Redis->new( %at, username => $user );
    $redis->connect->get;
    is( $redis->command( 'ACL', 'WHOAMI' )->get, $user, 'runs as that (nopass) user' );
    $redis->disconnect;
    my $locked = Future::IO::Redis->new( %at, username => $srv->{acl_user} );
    my $err    = connect_error($locked);
    isa_ok( $err, 'Future::IO::Redis::Error::Redis' );
    ok( $err && $err->is_noauth, 'a user with a password is refused, not ignored' );
    $admin->command( 'ACL', 'DELUSER', $user )->get;
    $admin->disconnect;
};

subtest 'wrong password' => sub {
    my $redis = Future::IO::Redis->new( %at, password => 'not-the-password-xyzzy' );
    my $err   = connect_error($redis);
    isa_ok( $err, 'Future::IO::Redis::Error::Redis' );
    ok( $err->is_noauth, 'is_noauth' ) if $err;
    unlike( "$err", qr/xyzzy/, 'the password is not in the message' );
    ok( !$redis->is_connected, 'not connected' );
};

subtest 'missing ACL user' => sub {
    my $redis
        = Future::IO::Redis->new( %at, username => 'nobody-here', password => 'pw-secret-123' );
    my $err = connect_error($redis);
    isa_ok( $err, 'Future::IO::Redis::Error::Redis' );
    unlike( "$err", qr/pw-secret-123/, 'the password is not in the message' );
    ok( !$redis->is_connected, 'not connected' );
};

subtest 'no password where one is required' => sub {
    my $redis = Future::IO::Redis->new(%at);
    $redis->connect->get;    # the handshake itself needs no auth …
    my $f = $redis->ping;    # … but the first command does
    $loop->await($f);
    isa_ok( $f->failure, 'Future::IO::Redis::Error::Redis' );
    is( $f->failure->type, 'NOAUTH', 'NOAUTH' );
    $redis->disconnect;
};

subtest 'bad database fails the handshake' => sub {
    my $redis = Future::IO::Redis->new( %at, password => $srv->{password}, database => 999 );
    my $err   = connect_error($redis);
    isa_ok( $err, 'Future::IO::Redis::Error::Redis' );
    ok( !$redis->is_connected, 'not connected' );
};

done_testing;
